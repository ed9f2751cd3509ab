"""A Gradio Blocks page around any `classify(image_file) -> {label: confidence}` function (plain or async)."""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping, Sequence

import gradio as gr

from gradio_app.components import ImageFile

ClassifyFn = Callable[[str], Mapping[str, float] | Awaitable[Mapping[str, float]]]
DescribeFn = Callable[[], str | Awaitable[str]]


def build_page(
    classify: ClassifyFn,
    describe: DescribeFn,
    *,
    examples: Sequence[str] = (),
    title: str = "imgclf",
    top_k: int = 5,
) -> gr.Blocks:
    """Image (upload, webcam or clipboard) → top-k confidences; `describe` (Markdown about the served model)
    runs on every page load, so the page names the model version being served right now. `classify` gets
    the uploaded file's path and raises gr.Error with a friendly message for a file it cannot classify."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        model = gr.Markdown()
        with gr.Row():
            # image_mode=None: the file as uploaded, not converted, so the page classifies what the API would
            image = ImageFile(type="filepath", image_mode=None, label="Image",
                              sources=["upload", "webcam", "clipboard"])
            label = gr.Label(num_top_classes=top_k, label="Prediction")
        gr.Button("Classify", variant="primary").click(classify, inputs=image, outputs=label)
        if examples:
            gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
        page.load(describe, outputs=model)
    return page
