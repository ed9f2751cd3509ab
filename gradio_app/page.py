"""A Gradio Blocks page around any `classify(image_file) -> {label: confidence}` function (plain or async), with
an optional model choice (`classify(image_file, model)`, the names from `models()`), an optional "Why?" button around
`explain(image_file[, model]) -> (image, Explanation)`, an optional Compare tab around
`compare(image_file[, reasons]) -> Markdown` and an optional correction panel around
`correct(image_file, answer, label, who)`."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar

import gradio as gr
import numpy as np

from gradio_app.components import Answer, CorrectionPanel, ExplanationPanel, ImageFile, Shown, markdown_text
from imgclf.explanations.explanation import Explanation

T = TypeVar("T")
Scores = Mapping[str, float] | Answer  # an Answer also names the model that gave the scores
ClassifyFn = Callable[..., Scores | Awaitable[Scores]]  # (image_file[, model])
Explained = tuple[np.ndarray, Explanation]  # the decoded upload and why the model answered what it did
ExplainFn = Callable[..., Explained | Awaitable[Explained]]  # (image_file[, model])
CompareFn = Callable[..., str | Awaitable[str]]  # (image_file[, reasons])
DescribeFn = Callable[[], str | Awaitable[str]]
ModelsFn = Callable[[], Sequence[str] | Awaitable[Sequence[str]]]
CorrectFn = Callable[[str, Answer, str, str], Any]  # (image_file, answer shown, right label, who); may be async
OfferFn = Callable[[], bool | Awaitable[bool]]


def build_page(
    classify: ClassifyFn,
    describe: DescribeFn,
    *,
    explain: ExplainFn | None = None,
    compare: CompareFn | None = None,
    models: ModelsFn | None = None,
    correct: CorrectFn | None = None,
    offer_corrections: OfferFn | None = None,
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
    too, a "Show each model's reason" checkbox passes `reasons` (True or False) to `compare`.
    With `correct`, a correction panel under the prediction: "Wrong? Pick the right label" (the answering model's
    labels; `classify` may return an Answer naming the model, version and labels) and "Save correction", which calls
    `correct` with the upload, the Answer shown for it, the label picked and who picked it (the page's user, else the
    client's host); `offer_corrections`, checked on every page load, hides the panel while it says False."""
    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        model = gr.Markdown(elem_id="model-description")
        with gr.Tab("Classify"):
            choice, panel = classify_tab(classify, explain, correct, examples, top_k, choose_model=models is not None)
        if compare is not None:
            with gr.Tab("Compare"):
                compare_tab(compare, examples, reasons=explain is not None)
        loaded: dict[Any, Callable[[], Any]] = {model: describe}
        if choice is not None and models is not None:
            loaded[choice] = model_menu(models)
        if panel is not None and offer_corrections is not None:
            loaded[panel.group] = shown_when(offer_corrections)
        page.load(on_load(loaded), outputs=list(loaded), api_visibility="private")
    return page


def on_load(handlers: Mapping[Any, Callable[[], Any]]) -> Callable[[], Awaitable[dict[Any, Any]]]:
    """The one page-load handler: each block filled with its handler's answer, the handlers run together. One event,
    so the page is ready once it is answered (Gradio's client loses an event sent while the stream of one that just
    finished is closing, and a page with several load events keeps closing streams while it opens)."""

    async def load() -> dict[Any, Any]:
        values = await asyncio.gather(*(resolved(handler()) for handler in handlers.values()))
        return dict(zip(handlers, values))

    return load


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


def classify_tab(classify: ClassifyFn, explain: ExplainFn | None, correct: CorrectFn | None, examples: Sequence[str],
                 top_k: int, *, choose_model: bool) -> tuple[gr.Dropdown | None, CorrectionPanel | None]:
    """The upload, an optional Model menu, the Classify button and the label it fills, with `correct` the correction
    panel under it (the menu and the panel returned), and with `explain` the "Why?" button and the explanation panel
    it fills."""
    with gr.Row():
        with gr.Column():
            image = image_input()
            # filled on load; any name is let through: the classify function says which models it serves
            choice = (gr.Dropdown(label="Model", choices=[], allow_custom_value=True, elem_id="model-choice")
                      if choose_model else None)
        inputs = [image, choice] if choice is not None else [image]
        with gr.Column():
            label = gr.Label(num_top_classes=top_k, label="Prediction")
            panel = CorrectionPanel.build() if correct is not None else None
            if explain is not None:
                why_button(explain, inputs)
    button = gr.Button("Classify", variant="primary")
    if correct is None or panel is None:
        button.click(classify, inputs=inputs, outputs=label, api_name="classify")
    else:
        button.click(answered(classify), inputs=inputs, outputs=[label, panel.shown], api_name="classify").success(
            CorrectionPanel.offered, inputs=panel.shown, outputs=panel.offer_outputs, api_visibility="private")
        panel.save.click(corrected(correct), inputs=[image, panel.shown, panel.choice], outputs=panel.saved,
                         api_name="correct")
    if examples:
        gr.Examples(examples=[[path] for path in examples], inputs=image, label="Examples")
    return choice, panel


def answered(classify: ClassifyFn) -> Callable[..., Awaitable[tuple[dict[str, float], Shown]]]:
    """The Classify handler of a page with corrections: the scores for the label, and the upload with its Answer kept
    for a correction of it."""

    async def answer(image_file: str | None, *model: str | None) -> tuple[dict[str, float], Shown]:
        shown = Answer.of(await resolved(classify(image_file, *model)))
        return dict(shown.scores), (image_file or "", shown)

    return answer


def corrected(correct: CorrectFn) -> Callable[..., Awaitable[str]]:
    """The Save handler: `correct` for the upload whose answer is shown, then the confirmation line."""

    async def save(image_file: str | None, shown: Shown | None, label: str | None, request: gr.Request) -> str:
        if not image_file or shown is None or shown[0] != image_file:
            raise gr.Error("Classify this image first, then pick the right label.")
        if not label:
            raise gr.Error("Pick the right label first.")
        await resolved(correct(image_file, shown[1], label, who(request)))
        return f"Saved as {markdown_text(label)} · thank you"

    return save


def who(request: gr.Request) -> str:
    """The page's user when it has a password, else the client's host."""
    return request.username or (request.client.host if request.client else "") or "unknown"


def shown_when(offer: OfferFn) -> Callable[[], Awaitable[Any]]:
    """A page-load handler: the correction panel shown while `offer` says so."""

    async def visible() -> Any:
        return gr.update(visible=bool(await resolved(offer())))

    return visible


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
