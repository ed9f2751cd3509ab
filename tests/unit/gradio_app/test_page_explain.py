"""The page's "Why?" panel and the Compare tab's reasons, built around plain functions returning Explanations."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import gradio as gr
import numpy as np
import pytest
from markdown_it import MarkdownIt

from gradio_app import build_page
from gradio_app.components import THUMBNAIL_PX, markdown_text
from imgclf.explanations.explanation import (
    DECISION_PATH,
    GRAD_CAM,
    NEIGHBOURS,
    Explanation,
    ExplanationParts,
    Neighbour,
    PathStep,
)
from imgclf.explanations.render import overlay
from imgclf.models.prediction import Prediction
from imgclf.serving.page import NO_REASON, REASON_COLUMN, comparison_table

IMAGE = np.random.default_rng(42).integers(0, 256, (12, 16, 3), dtype=np.uint8)  # an upload, not model-sized
HEATMAP = np.zeros((4, 4), np.float32)
HEATMAP[0, 3] = 1.0  # the top right is hottest
THUMBNAIL = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
PARTS = {
    GRAD_CAM: ExplanationParts(GRAD_CAM, heatmap=HEATMAP),
    NEIGHBOURS: ExplanationParts(NEIGHBOURS, neighbours=(Neighbour("7/a_1.png", "7", 0.125, THUMBNAIL),
                                                         Neighbour("1/b.png", "1", 2.5, THUMBNAIL[::-1]))),
    DECISION_PATH: ExplanationParts(DECISION_PATH, path=(PathStep(0, 5, "red of pixel (row 1, column 2)", 0.5, 0.25),
                                                         PathStep(1, 9, "embedding component 9", 0.1, 0.75)),
                                    leaf=4, leaf_counts={"7": 12, "1": 0}),
}
MODELS = {"vgg": GRAD_CAM, "knn": NEIGHBOURS, "tree": DECISION_PATH}


def explanation_of(method: str) -> Explanation:
    return Explanation("digits-fake", "1", "fake", predicted="7", label="7", label_index=7, score=0.9,
                       parts=PARTS[method])


class FakeModels:
    """classify, explain and describe over the MODELS by name, counting the explanations asked for."""

    def __init__(self) -> None:
        self.explained: list[str | None] = []

    def classify(self, path: str, model: str | None) -> dict[str, float]:
        return {"7": 1.0}

    def explain(self, path: str, model: str | None) -> tuple[np.ndarray, Explanation]:
        self.explained.append(model)
        return IMAGE, explanation_of(MODELS[model or "vgg"])

    def describe(self) -> str:
        return "fake models"

    def models(self) -> list[str]:
        return list(MODELS)


def compare_stub(path: str, reasons: bool = False) -> str:
    return f"| reasons |\n| --- |\n| {reasons} |"


@pytest.fixture
def fakes() -> FakeModels:
    return FakeModels()


@pytest.fixture
def page(fakes: FakeModels) -> gr.Blocks:
    return build_page(fakes.classify, fakes.describe, explain=fakes.explain, compare=compare_stub,
                      models=fakes.models)


def by_id(page: gr.Blocks, elem_id: str) -> Any:
    [block] = [block for block in page.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    return block


def handler(page: gr.Blocks, **match: Any) -> Any:
    [found] = [fn for fn in page.fns.values() if all(getattr(fn, key) == value for key, value in match.items())]
    return found


def outputs_of(page: gr.Blocks, values: tuple[Any, ...]) -> dict[str, Any]:
    """The explain handler's values by the elem_id of the component each one goes to (the state under "heat")."""
    explain = handler(page, api_name="explain")
    return {block.elem_id or "heat": value for block, value in zip(explain.outputs, values)}


def why(page: gr.Blocks, model: str, opacity: float = 0.5) -> dict[str, Any]:
    """Clicking "Why?" with `model` chosen and the slider at `opacity`."""
    explain = handler(page, api_name="explain")
    return outputs_of(page, asyncio.run(explain.fn(opacity, "upload.png", model)))


def shown(update: dict[str, Any]) -> bool:
    return update["visible"] is True


def test_why_asks_explain_for_the_upload_and_chosen_model_and_fills_the_panel(page: gr.Blocks) -> None:
    explain = handler(page, api_name="explain")
    assert by_id(page, "explain-button") in [page.blocks[trigger] for trigger, _ in explain.targets]
    image = [block for block in page.blocks.values() if isinstance(block, gr.Image) and block.interactive is not False]
    assert [block._id for block in explain.inputs] == [by_id(page, "explanation-opacity")._id, image[0]._id,
                                                      by_id(page, "model-choice")._id]
    assert {"explanation-summary", "explanation-overlay", "explanation-opacity", "explanation-neighbours",
            "explanation-path"} <= {block.elem_id for block in explain.outputs}


@pytest.mark.parametrize("model", list(MODELS))
def test_the_panel_shows_the_summary_and_only_the_view_of_the_method(page: gr.Blocks, model: str) -> None:
    panel = why(page, model)
    method = MODELS[model]
    assert panel["explanation-summary"] == markdown_text(explanation_of(method).summary())
    assert shown(panel["explanation-overlay"]) is shown(panel["explanation-opacity"]) is (method == GRAD_CAM)
    assert shown(panel["explanation-neighbours"]) is (method == NEIGHBOURS)
    assert shown(panel["explanation-path"]) is (method == DECISION_PATH)


def test_grad_cam_overlays_the_heatmap_on_the_upload_at_the_sliders_opacity(page: gr.Blocks) -> None:
    explanation = explanation_of(GRAD_CAM)
    panel = why(page, "vgg", opacity=0.8)
    expected = overlay(IMAGE, explanation.heatmap_at(*IMAGE.shape[:2]), 0.8)
    np.testing.assert_array_equal(panel["explanation-overlay"]["value"], expected)
    assert panel["explanation-overlay"]["value"].shape == IMAGE.shape  # the upload's size, not the heatmap's


def test_the_opacity_slider_recolours_the_kept_heatmap_without_asking_the_model(page: gr.Blocks,
                                                                              fakes: FakeModels) -> None:
    panel = why(page, "vgg")
    recolour = handler(page, api_name="explanation_overlay")
    slider = by_id(page, "explanation-opacity")
    assert [block._id for block in recolour.inputs] == [handler(page, api_name="explain").outputs[3]._id, slider._id]
    assert (slider._id, "change") in recolour.targets
    heat = panel["heat"]
    for opacity in (0.0, 0.3, 1.0):
        np.testing.assert_array_equal(recolour.fn(heat, opacity), overlay(*heat, opacity))
    assert not np.array_equal(recolour.fn(heat, 0.0), recolour.fn(heat, 1.0))
    assert fakes.explained == ["vgg"]  # only the click asked for an explanation
    assert why(page, "knn")["heat"] is None  # no heatmap kept for a method without one
    assert isinstance(recolour.fn(None, 0.7), type(gr.skip()))


def test_neighbours_show_enlarged_sharp_thumbnails_captioned_label_distance_reference(page: gr.Blocks) -> None:
    items = why(page, "knn")["explanation-neighbours"]["value"]
    assert [caption for _, caption in items] == ["7 · 0.12 · 7/a_1.png", "1 · 2.50 · 1/b.png"]
    for (picture, _), neighbour in zip(items, PARTS[NEIGHBOURS].neighbours):
        assert picture.shape[0] >= THUMBNAIL_PX and picture.shape[1] >= THUMBNAIL_PX
        factor = picture.shape[0] // neighbour.thumbnail.shape[0]
        np.testing.assert_array_equal(picture[::factor, ::factor], neighbour.thumbnail)  # nearest: copies, no blur
        np.testing.assert_array_equal(picture[factor - 1::factor, factor - 1::factor], neighbour.thumbnail)


def test_the_decision_path_is_shown_as_its_text(page: gr.Blocks) -> None:
    assert why(page, "tree")["explanation-path"]["value"] == explanation_of(DECISION_PATH).path_text()


def test_without_explain_the_page_has_no_why_button_nor_reasons_checkbox() -> None:
    fakes = FakeModels()
    page = build_page(fakes.classify, fakes.describe, compare=compare_stub, models=fakes.models)
    elem_ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert not {"explain-button", "explanation-summary", "compare-reasons"} & elem_ids
    [compare] = [fn for fn in page.fns.values() if fn.fn is compare_stub]
    assert len(compare.inputs) == 1  # compare(image_file), as before


def test_the_reasons_checkbox_passes_reasons_to_compare_and_redoes_a_shown_comparison(page: gr.Blocks) -> None:
    checkbox = by_id(page, "compare-reasons")
    assert checkbox.label == "Show each model's reason" and checkbox.value is False
    [compare] = [fn for fn in page.fns.values() if fn.fn is compare_stub]
    assert compare.inputs[1]._id == checkbox._id
    again = handler(page, targets=[(checkbox._id, "input")])
    assert again.outputs[0]._id == compare.outputs[0]._id
    assert asyncio.run(again.fn("upload.png", True)) == compare_stub("upload.png", True)
    assert isinstance(asyncio.run(again.fn(None, True)), type(gr.skip()))  # no upload yet: nothing to redo


def test_markdown_text_reads_back_as_written() -> None:
    text = "3 tests: *a* | _b_ [c](d) <e> `f` 1. #g \\ 0.12 ≤ 0.5 …"
    rendered = MarkdownIt("commonmark").enable("table").render(markdown_text(text))
    assert re.sub(r"<[^>]+>", "", rendered).strip() == text.replace("<", "&lt;").replace(">", "&gt;")


def test_the_comparison_gains_a_reason_column_only_when_asked() -> None:
    served = [{"name": name, "version": "1", "kind": "fake", "metrics": {}} for name in ("vgg", "knn")]
    predictions = [Prediction.from_probabilities(np.array([0.1, 0.9]), ["1", "7"], 2, model_name="vgg",
                                                 model_version="1")] * 2
    reasons = ["5 nearest training images: 7 (0.12)", NO_REASON]
    table = comparison_table(served, predictions, reasons).splitlines()
    assert table[0].endswith(f"| {REASON_COLUMN} |")
    assert [row.rsplit("|", 2)[1].strip() for row in table[2:]] == [markdown_text(reason) for reason in reasons]
    assert REASON_COLUMN not in comparison_table(served, predictions)
