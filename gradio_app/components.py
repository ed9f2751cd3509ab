"""Gradio components of the page (Gradio writes a `.pyi` stub beside a module defining a component: git-ignored)."""

from __future__ import annotations

from typing import Any

import gradio as gr


class ImageFile(gr.Image):
    """gr.Image that also hands `classify` a file Pillow cannot open (its path), so that `classify` says why in
    its own words instead of Gradio's preprocessing error, which shows server paths and Gradio internals."""

    is_template = True  # drawn by gr.Image's frontend (its props come from gr.Image's __init__ signature)

    def preprocess(self, payload: Any) -> str | None:
        try:
            return super().preprocess(payload)
        except Exception:  # noqa: BLE001 - not an image Pillow opens: `classify` decodes it and explains
            return str(payload.path) if payload is not None and payload.path else None
