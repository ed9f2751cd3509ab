"""The Gradio page wires an image input through the given classify function into a label."""

import gradio as gr
import numpy as np

from gradio_app import build_page


def classify_stub(image: np.ndarray) -> dict[str, float]:
    return {"bright": float(image.mean() / 255), "dark": 1 - float(image.mean() / 255)}


def test_page_wires_classify_between_image_and_label():
    page = build_page(classify_stub, title="digits", top_k=2)
    assert isinstance(page, gr.Blocks)
    images = [block for block in page.blocks.values() if isinstance(block, gr.Image)]
    labels = [block for block in page.blocks.values() if isinstance(block, gr.Label)]
    assert len(images) == 1 and len(labels) == 1
    assert labels[0].num_top_classes == 2
    handlers = [fn for fn in page.fns.values() if fn.fn is classify_stub]
    assert len(handlers) == 1
    assert [block._id for block in handlers[0].inputs] == [images[0]._id]
    assert [block._id for block in handlers[0].outputs] == [labels[0]._id]
