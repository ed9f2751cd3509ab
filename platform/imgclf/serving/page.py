"""What the Gradio page calls: the same decode, resize and Classifier handle as the HTTP API."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from imgclf.data.scan import is_image_name
from imgclf.serving.http_errors import ApiError

if TYPE_CHECKING:
    from imgclf.serving.api import ApiIngress

MAX_EXAMPLES = 10


def example_images(folder: str | None, limit: int = MAX_EXAMPLES) -> list[str]:
    """Up to `limit` images of a folder: one per class folder in a folder-per-class layout, else the first files."""
    if not folder or not Path(folder).is_dir():
        return []
    root = Path(folder).resolve()
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = []
    for place in classes or [root]:
        names = sorted(n for n in os.listdir(place) if is_image_name(n) and (place / n).is_file())
        found.extend(str(place / name) for name in (names[:1] if classes else names))
    return found[:limit]


class PageBackend:
    """The page's classify and describe functions: coroutines Gradio awaits on the app's event loop, so the page
    goes through the same `prepare` and `predict` (with its replica retries) as the HTTP API."""

    def __init__(self, ingress: ApiIngress) -> None:
        self.ingress = ingress

    async def classify(self, path: str | None) -> dict[str, float]:
        if not path:
            raise gr.Error("Choose an image first.")
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
            image = await asyncio.to_thread(self.ingress.prepare, data, Path(path).name)
            prediction = await self.ingress.predict(image, self.ingress.config.max_top_k)
        except ApiError as exc:
            if exc.status == 503:  # overloaded, or no replica answers: say so, keep serving
                raise gr.Error(f"The model is busy or restarting ({exc.code}); try again in a moment.") from exc
            raise gr.Error(f"That file cannot be classified: {exc.message}.") from exc
        return prediction.scores()

    async def describe(self) -> str:
        described = await self.ingress.classifier.describe.remote()
        if described is None:
            return "No model is loaded yet."
        accuracy = (described["metrics"].get("test") or {}).get("accuracy")  # metrics.json: {"test": {...}, ...}
        score = f" · test accuracy **{accuracy:.4f}**" if isinstance(accuracy, (int, float)) else ""
        return f"Model **{described['name']}:{described['version']}** ({described['kind']}){score}"
