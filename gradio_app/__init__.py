"""The Gradio page of imgclf, built around a classify function."""

from gradio_app.page import build_page

__all__ = ["build_page"]
