"""A Gradio Blocks page around any `classify(image_file) -> {label: confidence}` function (plain or async), with
an optional Compare tab around `compare(image_file) -> Markdown`."""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping, Sequence

import gradio as gr

from gradio_app.components import ImageFile

ClassifyFn = Callable[[str], Mapping[str, float] | Awaitable[Mapping[str, float]]]
CompareFn = Callable[[str], str | Awaitable[str]]
DescribeFn = Callable[[], str | Awaitable[str]]


def build_page(
    classify: ClassifyFn,
    describe: DescribeFn,
    *,
    compare: CompareFn | None = None,
    examples: Sequence[str] = (),
    title: str = "imgclf",
    top_k: int = 5,
) -> gr.Blocks:
    """Image (upload, webcam or clipboard) → top-k confidences; `describe` (Markdown about the served model)
    runs on every page load, so the page names the model version being served right now. `classify` gets
    the uploaded file's path and raises gr.Error with a friendly message for a file it cannot classify.
    With `compare`, a second tab shows its Markdown (every served model's answer) for one upload."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        model = gr.Markdown()
        with gr.Tab("Classify"):
            classify_tab(classify, examples, top_k)
        if compare is not None:
            with gr.Tab("Compare"):
                compare_tab(compare, examples)
        page.load(describe, outputs=model)
    return page


def image_input() -> ImageFile:
    # image_mode=None: the file as uploaded, not converted, so the page classifies what the API would
    return ImageFile(type="filepath", image_mode=None, label="Image", sources=["upload", "webcam", "clipboard"])


def classify_tab(classify: ClassifyFn, examples: Sequence[str], top_k: int) -> None:
    with gr.Row():
        image = image_input()
        label = gr.Label(num_top_classes=top_k, label="Prediction")
    gr.Button("Classify", variant="primary").click(classify, inputs=image, outputs=label)
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")


def compare_tab(compare: CompareFn, examples: Sequence[str]) -> None:
    gr.Markdown("One image, every served model: each one's answer beside its test metrics.")
    image = image_input()
    table = gr.Markdown(elem_id="comparison")
    gr.Button("Compare", variant="primary").click(compare, inputs=image, outputs=table)
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
