"""The Gradio page wires an image file input through the given classify function into a label."""

import asyncio
from pathlib import Path

import gradio as gr

from gradio_app import build_page
from utils.images import write_image


def classify_stub(path: str) -> dict[str, float]:
    return {"bright": 0.75, "dark": 0.25}


def describe_stub() -> str:
    return "**digits-vgg16:3**"


def loaders(page: gr.Blocks) -> list:
    """The page's page-load handlers."""
    return [fn for fn in page.fns.values() if any(event == "load" for _, event in fn.targets)]


def test_page_wires_classify_between_image_and_label() -> None:
    page = build_page(classify_stub, describe_stub, title="digits", top_k=2)
    assert isinstance(page, gr.Blocks)
    images = [block for block in page.blocks.values() if isinstance(block, gr.Image)]
    labels = [block for block in page.blocks.values() if isinstance(block, gr.Label)]
    assert len(images) == 1 and len(labels) == 1
    assert images[0].type == "filepath" and labels[0].num_top_classes == 2
    handlers = [fn for fn in page.fns.values() if fn.fn is classify_stub]
    assert len(handlers) == 1
    assert [block._id for block in handlers[0].inputs] == [images[0]._id]
    assert [block._id for block in handlers[0].outputs] == [labels[0]._id]


def test_page_describes_the_model_on_load_and_offers_examples(tmp_path: Path) -> None:
    example = write_image(tmp_path / "seven.png")
    page = build_page(classify_stub, describe_stub, examples=[str(example)])
    [loader] = loaders(page)
    [description] = [block for block in loader.outputs if isinstance(block, gr.Markdown)]
    assert asyncio.run(loader.fn())[description] == describe_stub()
    datasets = [block for block in page.blocks.values() if isinstance(block, gr.Dataset)]
    assert len(datasets) == 1 and len(datasets[0].samples) == 1


def compare_stub(path: str) -> str:
    return "| Model |\n| --- |\n| digits-vgg16:3 |"


def test_compare_tab_wires_its_own_image_through_compare_into_markdown() -> None:
    page = build_page(classify_stub, describe_stub, compare=compare_stub)
    tabs = [block.label for block in page.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Classify", "Compare"]
    [handler] = [fn for fn in page.fns.values() if fn.fn is compare_stub]
    [classify_handler] = [fn for fn in page.fns.values() if fn.fn is classify_stub]
    assert isinstance(handler.inputs[0], gr.Image) and isinstance(handler.outputs[0], gr.Markdown)
    assert handler.inputs[0]._id != classify_handler.inputs[0]._id  # each tab keeps its own upload


def test_without_compare_the_page_has_no_compare_tab() -> None:
    page = build_page(classify_stub, describe_stub)
    assert "Compare" not in [block.label for block in page.blocks.values() if isinstance(block, gr.Tab)]


def classify_with_model_stub(path: str, model: str | None) -> dict[str, float]:
    return {model or "default": 1.0}


def models_stub() -> list[str]:
    return ["digits-vgg16", "digits-knn-pixels"]


def test_with_models_a_model_menu_passes_the_chosen_name_to_classify() -> None:
    page = build_page(classify_with_model_stub, describe_stub, models=models_stub)
    [menu] = [block for block in page.blocks.values() if isinstance(block, gr.Dropdown)]
    [handler] = [fn for fn in page.fns.values() if fn.fn is classify_with_model_stub]
    assert [block._id for block in handler.inputs][1] == menu._id
    [loader] = loaders(page)
    assert [block._id for block in loader.outputs][1] == menu._id
    filled = asyncio.run(loader.fn())[menu]
    assert filled.choices == [("digits-vgg16", "digits-vgg16"), ("digits-knn-pixels", "digits-knn-pixels")]
    assert filled.value == "digits-vgg16"
    assert not [block for block in build_page(classify_stub, describe_stub).blocks.values()
                if isinstance(block, gr.Dropdown)]
