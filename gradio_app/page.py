"""A Gradio Blocks page around any `classify(image_file) -> {label: confidence}` function (plain or async), with
an optional model choice (`classify(image_file, model)`, the names from `models()`), an optional "Why?" button around
`explain(image_file[, model]) -> (image, Explanation)` and an optional Compare tab around
`compare(image_file[, reasons]) -> Markdown`."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

import gradio as gr
import numpy as np

from gradio_app.components import ExplanationPanel, ImageFile
from imgclf.explanations.explanation import Explanation

T = TypeVar("T")
ClassifyFn = Callable[..., Mapping[str, float] | Awaitable[Mapping[str, float]]]  # (image_file[, model])
Explained = tuple[np.ndarray, Explanation]  # the decoded upload and why the model answered what it did
ExplainFn = Callable[..., Explained | Awaitable[Explained]]  # (image_file[, model])
CompareFn = Callable[..., str | Awaitable[str]]  # (image_file[, reasons])
DescribeFn = Callable[[], str | Awaitable[str]]
ModelsFn = Callable[[], Sequence[str] | Awaitable[Sequence[str]]]


def build_page(
    classify: ClassifyFn,
    describe: DescribeFn,
    *,
    explain: ExplainFn | None = None,
    compare: CompareFn | None = None,
    models: ModelsFn | None = None,
    examples: Sequence[str] = (),
    title: str = "imgclf",
    top_k: int = 5,
) -> gr.Blocks:
    """Image (upload, webcam or clipboard) → top-k confidences; `describe` (Markdown about the served model)
    runs on every page load, so the page names the model version being served right now. `classify` gets
    the uploaded file's path and raises gr.Error with a friendly message for a file it cannot classify.
    With `models`, a Model menu (filled on load, the first name chosen) passes the chosen name to `classify`.
    With `explain` (same arguments as `classify`), a "Why?" button shows the chosen model's explanation.
    With `compare`, a second tab shows its Markdown (every served model's answer) for one upload; with `explain`
    too, a "Show each model's reason" checkbox passes `reasons` (True or False) to `compare`."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        model = gr.Markdown()
        with gr.Tab("Classify"):
            choice = classify_tab(classify, explain, examples, top_k, choose_model=models is not None)
        if compare is not None:
            with gr.Tab("Compare"):
                compare_tab(compare, examples, reasons=explain is not None)
        page.load(describe, outputs=model)
        if models is not None:
            page.load(model_menu(models), outputs=choice)
    return page


async def resolved(value: T | Awaitable[T]) -> T:
    """What a plain or async function returned."""
    return await value if isinstance(value, Awaitable) else value


def model_menu(models: ModelsFn) -> Callable[[], Awaitable[gr.Dropdown]]:
    """A page-load handler: the Model menu with the names `models` gives, the first one chosen."""

    async def menu() -> gr.Dropdown:
        names = list(await resolved(models()))
        return gr.Dropdown(choices=names, value=names[0] if names else None)

    return menu


def image_input() -> ImageFile:
    # image_mode=None: the file as uploaded, not converted, so the page classifies what the API would
    return ImageFile(type="filepath", image_mode=None, label="Image", sources=["upload", "webcam", "clipboard"])


def classify_tab(classify: ClassifyFn, explain: ExplainFn | None, examples: Sequence[str], top_k: int, *,
                 choose_model: bool) -> gr.Dropdown | None:
    """The upload, an optional Model menu (returned), the Classify button and the label it fills, and with
    `explain` the "Why?" button and the explanation panel it fills."""
    with gr.Row():
        with gr.Column():
            image = image_input()
            # filled on load; any name is let through: the classify function says which models it serves
            choice = (gr.Dropdown(label="Model", choices=[], allow_custom_value=True, elem_id="model-choice")
                      if choose_model else None)
        inputs = [image, choice] if choice is not None else [image]
        with gr.Column():
            label = gr.Label(num_top_classes=top_k, label="Prediction")
            if explain is not None:
                why_button(explain, inputs)
    gr.Button("Classify", variant="primary").click(classify, inputs=inputs, outputs=label, api_name="classify")
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
    return choice


def why_button(explain: ExplainFn, inputs: list[Any]) -> None:
    """The "Why?" button and the explanation panel it fills with `explain`'s answer for `inputs` (the upload and
    the chosen model), the overlay drawn at the panel's opacity."""
    why = gr.Button("Why?", elem_id="explain-button")
    panel = ExplanationPanel.build()

    async def shown(opacity: float, *arguments: Any) -> tuple[Any, ...]:
        image, explanation = await resolved(explain(*arguments))
        return await asyncio.to_thread(ExplanationPanel.shown, image, explanation, opacity)  # a photo's overlay

    why.click(shown, inputs=[panel.opacity, *inputs], outputs=panel.outputs, api_name="explain")


def compare_tab(compare: CompareFn, examples: Sequence[str], *, reasons: bool) -> None:
    """An upload, the Compare button and the table it fills; with `reasons`, the checkbox that adds each model's
    reason (ticking it redoes a comparison already shown)."""
    gr.Markdown("One image, every served model: each one's answer beside its test metrics.")
    image = image_input()
    with_reasons = (gr.Checkbox(label="Show each model's reason", elem_id="compare-reasons") if reasons else None)
    table = gr.Markdown(elem_id="comparison")
    inputs = [image, with_reasons] if with_reasons is not None else [image]
    gr.Button("Compare", variant="primary").click(compare, inputs=inputs, outputs=table)
    if with_reasons is not None:
        with_reasons.input(compared_again(compare), inputs=inputs, outputs=table)
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")


def compared_again(compare: CompareFn) -> Callable[[str | None, bool], Awaitable[Any]]:
    """The checkbox's handler: the comparison redone with or without reasons, once an image is chosen."""

    async def again(image_file: str | None, reasons: bool) -> Any:
        return await resolved(compare(image_file, reasons)) if image_file else gr.skip()

    return again
