"""Gradio components of the page (Gradio writes a `.pyi` stub beside a module defining a component: git-ignored)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import gradio as gr
import numpy as np

from imgclf.explanations.explanation import DECISION_PATH, GRAD_CAM, NEIGHBOURS, Explanation, Neighbour
from imgclf.explanations.render import DEFAULT_OPACITY, enlarge, overlay

THUMBNAIL_PX = 96  # the neighbours' thumbnails (a few dozen pixels) are shown at least this large
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")

Heat = tuple[np.ndarray, np.ndarray]  # an explained image and its Grad-CAM heatmap at the image's size


class ImageFile(gr.Image):
    """gr.Image that also hands `classify` a file Pillow cannot open (its path), so that `classify` says why in
    its own words instead of Gradio's preprocessing error, which shows server paths and Gradio internals."""

    is_template = True  # drawn by gr.Image's frontend (its props come from gr.Image's __init__ signature)

    def preprocess(self, payload: Any) -> str | None:
        try:
            return super().preprocess(payload)
        except Exception:  # noqa: BLE001 - not an image Pillow opens: `classify` decodes it and explains
            return str(payload.path) if payload is not None and payload.path else None


def markdown_text(text: str) -> str:
    """`text` for gr.Markdown, shown as written (no emphasis, links or table cells made of its punctuation)."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class ExplanationPanel:
    """Why a model answered: a one-line summary and the one view that fits the method (a Grad-CAM overlay with its
    opacity, the voting neighbours or the decision path). `heat` keeps the image and its heatmap, so the opacity
    slider re-renders the overlay without asking the model again."""

    summary: gr.Markdown
    overlay: gr.Image
    opacity: gr.Slider
    heat: gr.State
    neighbours: gr.Gallery
    path: gr.Textbox

    @classmethod
    def build(cls) -> ExplanationPanel:
        panel = cls(
            summary=gr.Markdown(elem_id="explanation-summary"),
            overlay=gr.Image(label="Where the model looked (Grad-CAM)", type="numpy", format="png",
                             interactive=False, visible=False, elem_id="explanation-overlay"),
            opacity=gr.Slider(0, 1, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity", visible=False,
                              elem_id="explanation-opacity"),
            heat=gr.State(None),
            neighbours=gr.Gallery(label="Nearest training images (label · distance · reference)", format="png",
                                  columns=5, visible=False, elem_id="explanation-neighbours"),
            path=gr.Textbox(label="Decision path", lines=6, interactive=False, visible=False,
                            elem_id="explanation-path"),
        )
        panel.opacity.change(recoloured, inputs=[panel.heat, panel.opacity], outputs=panel.overlay,
                             api_name="explanation_overlay", show_progress="hidden")
        return panel

    @property
    def outputs(self) -> list[Any]:
        return [self.summary, self.overlay, self.opacity, self.heat, self.neighbours, self.path]

    @staticmethod
    def shown(image: np.ndarray, explanation: Explanation, opacity: float) -> tuple[Any, ...]:
        """The values of `outputs` for `explanation` of `image`: its summary, and only its method's view visible."""
        method = explanation.method
        heat = (image, explanation.heatmap_at(*image.shape[:2])) if method == GRAD_CAM else None
        return (
            markdown_text(explanation.summary()),
            gr.update(value=overlay(*heat, opacity) if heat else None, visible=heat is not None),
            gr.update(visible=heat is not None),
            heat,
            gr.update(value=[gallery_item(n) for n in explanation.parts.neighbours], visible=method == NEIGHBOURS),
            gr.update(value=explanation.path_text() if method == DECISION_PATH else "",
                      visible=method == DECISION_PATH),
        )


def recoloured(heat: Heat | None, opacity: float) -> Any:
    """The overlay at a new opacity, from the kept image and heatmap (no model call)."""
    return overlay(*heat, opacity) if heat is not None else gr.skip()


def gallery_item(neighbour: Neighbour) -> tuple[np.ndarray, str]:
    """A neighbour's thumbnail enlarged (nearest, so its pixels stay sharp) and its caption."""
    caption = f"{neighbour.label} · {neighbour.distance:.2f} · {neighbour.reference}"
    return enlarge(neighbour.thumbnail, max(1, THUMBNAIL_PX // max(neighbour.thumbnail.shape[:2]))), caption


@dataclass(frozen=True)
class Answer:
    """What the page shows for an upload: the scores, and which model (name, version) gave them with its labels (the
    choices of a correction)."""

    scores: Mapping[str, float]
    model: str | None = None
    version: str | None = None
    labels: tuple[str, ...] = ()

    @classmethod
    def of(cls, shown: Mapping[str, float] | Answer) -> Answer:
        """`shown` as an Answer: a plain {label: score} answer offers its own labels."""
        return shown if isinstance(shown, Answer) else cls(dict(shown), labels=tuple(shown))

    @property
    def label(self) -> str:
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def source(self) -> str:
        """`name:version` of the model that answered, or what is known of it."""
        return ":".join(part for part in (self.model, self.version) if part) or "the model"


Shown = tuple[str, Answer]  # the upload's file and the Answer the page showed for it


@dataclass(frozen=True)
class CorrectionPanel:
    """Under the prediction: which model answered, a "Wrong? Pick the right label" menu of its labels, the Save
    button and the confirmation line. `shown` keeps the upload and the Answer shown for it (on the server), so a
    correction names the model version that gave that answer, even when another version answers the next request."""

    group: gr.Group
    answered: gr.Markdown
    choice: gr.Dropdown
    save: gr.Button
    saved: gr.Markdown
    shown: gr.State

    @classmethod
    def build(cls) -> CorrectionPanel:
        with gr.Group(elem_id="correction") as group:
            answered = gr.Markdown(elem_id="correction-answered")
            choice = gr.Dropdown(label="Wrong? Pick the right label", choices=[], elem_id="correction-choice")
            save = gr.Button("Save correction", elem_id="correction-save")
            saved = gr.Markdown(elem_id="correction-saved")
        return cls(group, answered, choice, save, saved, gr.State(None))

    @property
    def offer_outputs(self) -> list[Any]:
        return [self.answered, self.choice, self.saved]

    @staticmethod
    def offered(shown: Shown | None) -> tuple[Any, ...]:
        """The values of `offer_outputs` once an answer is shown: who answered, its labels to choose from, no
        confirmation yet."""
        if shown is None:
            return gr.skip(), gr.skip(), gr.skip()
        answer = shown[1]
        return (markdown_text(f"Answered by {answer.source}"),
                gr.Dropdown(choices=list(answer.labels), value=None), "")
