"""A Gradio Blocks page around any `classify(image) -> {label: confidence}` function."""

from __future__ import annotations

from typing import Callable, Mapping

import gradio as gr
import numpy as np

ClassifyFn = Callable[[np.ndarray], Mapping[str, float]]


def build_page(classify: ClassifyFn, *, title: str = "imgclf", top_k: int = 5) -> gr.Blocks:
    """Image upload → top-k confidences; `classify` does the decoding-free prediction on an RGB array."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        with gr.Row():
            image = gr.Image(type="numpy", image_mode="RGB", label="Image", sources=["upload", "clipboard"])
            label = gr.Label(num_top_classes=top_k, label="Prediction")
        gr.Button("Classify").click(classify, inputs=image, outputs=label)
    return page
