"""A Gradio Blocks page around any `classify(image_file) -> {label: confidence}` function (plain or async), with
an optional model choice (`classify(image_file, model)`, the names from `models()`) and an optional Compare tab
around `compare(image_file) -> Markdown`."""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping, Sequence

import gradio as gr

from gradio_app.components import ImageFile

ClassifyFn = Callable[..., Mapping[str, float] | Awaitable[Mapping[str, float]]]  # (image_file[, model])
CompareFn = Callable[[str], str | Awaitable[str]]
DescribeFn = Callable[[], str | Awaitable[str]]
ModelsFn = Callable[[], Sequence[str] | Awaitable[Sequence[str]]]


def build_page(
    classify: ClassifyFn,
    describe: DescribeFn,
    *,
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
    With `compare`, a second tab shows its Markdown (every served model's answer) for one upload."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        model = gr.Markdown()
        with gr.Tab("Classify"):
            choice = classify_tab(classify, examples, top_k, choose_model=models is not None)
        if compare is not None:
            with gr.Tab("Compare"):
                compare_tab(compare, examples)
        page.load(describe, outputs=model)
        if models is not None:
            page.load(model_menu(models), outputs=choice)
    return page


def model_menu(models: ModelsFn) -> Callable[[], Awaitable[gr.Dropdown]]:
    """A page-load handler: the Model menu with the names `models` gives, the first one chosen."""

    async def menu() -> gr.Dropdown:
        names = models()
        names = list(await names if isinstance(names, Awaitable) else names)
        return gr.Dropdown(choices=names, value=names[0] if names else None)

    return menu


def image_input() -> ImageFile:
    # image_mode=None: the file as uploaded, not converted, so the page classifies what the API would
    return ImageFile(type="filepath", image_mode=None, label="Image", sources=["upload", "webcam", "clipboard"])


def classify_tab(classify: ClassifyFn, examples: Sequence[str], top_k: int, *, choose_model: bool) -> gr.Dropdown | None:
    """The upload, an optional Model menu (returned), the Classify button and the label it fills."""
    with gr.Row():
        with gr.Column():
            image = image_input()
            # filled on load; any name is let through: the classify function says which models it serves
            choice = (gr.Dropdown(label="Model", choices=[], allow_custom_value=True, elem_id="model-choice")
                      if choose_model else None)
        label = gr.Label(num_top_classes=top_k, label="Prediction")
    inputs = [image, choice] if choice is not None else [image]
    gr.Button("Classify", variant="primary").click(classify, inputs=inputs, outputs=label, api_name="classify")
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
    return choice


def compare_tab(compare: CompareFn, examples: Sequence[str]) -> None:
    gr.Markdown("One image, every served model: each one's answer beside its test metrics.")
    image = image_input()
    table = gr.Markdown(elem_id="comparison")
    gr.Button("Compare", variant="primary").click(compare, inputs=image, outputs=table)
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
