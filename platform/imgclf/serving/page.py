"""What the Gradio page calls: the classify service the HTTP routes use, its errors said as toasts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from gradio_app.components import markdown_text
from imgclf.data.scan import is_image_name
from imgclf.explanations.explanation import Explanation
from imgclf.models.prediction import Prediction
from imgclf.serving.errors import ServiceError, Unavailable
from imgclf.serving.service import ClassifyService

MAX_EXAMPLES = 10
COMPARE_TOP_K = 3
COMPARE_COLUMNS = ("Model", "Kind", f"Top {COMPARE_TOP_K} on this image", "Test accuracy", "Precision (macro)",
                   "Recall (macro)", "ms / image")
REASON_COLUMN = "Reason"
NO_REASON = "—"  # a model whose explanation fails


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
    """The page's classify, explain, compare and describe functions: coroutines Gradio awaits on the app's event loop,
    going through the same classify service (decode, resize, replica retries) as the HTTP routes."""

    def __init__(self, service: ClassifyService) -> None:
        self.service = service

    async def classify(self, path: str | None, model: str | None = None) -> dict[str, float]:
        """The scores of `model` (default: the first served) for the uploaded file."""
        image = await self.decoded(path)
        prediction = await self.predict(image, self.service.config.max_top_k, model or None)
        return prediction.scores()

    async def model_names(self) -> list[str]:
        """The served models' names, the default first (the Classify tab's Model menu), from the service's catalogue
        (summaries, not every model's metrics)."""
        with said_on_page():
            return [model["name"] for model in (await self.service.refresh()).models]

    async def explain(self, path: str | None, model: str | None = None) -> tuple[np.ndarray, Explanation]:
        """The uploaded file as decoded and why `model` (default: the first served) answers what it does for it."""
        image = await self.decoded(path, "explained")
        with said_on_page("explained"):
            return image, await self.explained(image, model or None)

    async def compare(self, path: str | None, reasons: bool = False) -> str:
        """A Markdown table: every served model's top 3 for the uploaded file (decoded once) beside its test accuracy,
        precision, recall and milliseconds per image (from its metrics.json), the default model first; with
        `reasons`, each model's explanation summary in a last column."""
        image = await self.decoded(path)
        with said_on_page():
            served = await self.service.models()
        names = [model["name"] for model in served]
        predictions = await asyncio.gather(*(self.predict(image, COMPARE_TOP_K, name) for name in names))
        summaries = await asyncio.gather(*(self.reason(image, name) for name in names)) if reasons else None
        return comparison_table(served, predictions, summaries)

    async def decoded(self, path: str | None, done: str = "classified") -> np.ndarray:
        """The uploaded file read and decoded as the API decodes a body (`done`: what cannot be done if it fails)."""
        if not path:
            raise gr.Error("Choose an image first.")
        data = await asyncio.to_thread(Path(path).read_bytes)
        with said_on_page(done):
            return await asyncio.to_thread(self.service.decode, data, Path(path).name)

    async def sized(self, image: np.ndarray, model: str | None) -> np.ndarray:
        return await asyncio.to_thread(self.service.sized, image, model)

    async def predict(self, image: np.ndarray, k: int, model: str | None = None) -> Prediction:
        """The service's resize and classify, its errors said the page's way."""
        with said_on_page():
            return await self.service.classify(await self.sized(image, model), k, model)

    async def explained(self, image: np.ndarray, model: str | None) -> Explanation:
        """The service's resize and explanation of the predicted class (the route's, for the same upload)."""
        return await self.service.explain(await self.sized(image, model), None, model)

    async def reason(self, image: np.ndarray, model: str) -> str:
        """`model`'s explanation summary for the image, or NO_REASON when it gives none."""
        try:
            return (await self.explained(image, model)).summary()
        except ServiceError:
            return NO_REASON

    async def describe(self) -> str:
        try:
            described = (await self.service.models())[0]
        except ServiceError:
            return "No model is loaded yet."
        accuracy = (described["metrics"].get("test") or {}).get("accuracy")  # metrics.json: {"test": {...}, ...}
        score = f" · test accuracy **{accuracy:.4f}**" if isinstance(accuracy, (int, float)) else ""
        return f"Model **{described['name']}:{described['version']}** ({described['kind']}){score}"


@contextmanager
def said_on_page(done: str = "classified") -> Iterator[None]:
    """An API error as a toast on the page, which keeps working (`done`: what the file cannot be)."""
    try:
        yield
    except ServiceError as exc:
        if isinstance(exc, Unavailable):  # overloaded, or no replica answers: say so, keep serving
            raise gr.Error(f"The model is busy or restarting ({exc.code}); try again in a moment.") from exc
        raise gr.Error(f"That file cannot be {done}: {exc.message}.") from exc


def comparison_table(served: list[dict[str, Any]], predictions: list[Prediction],
                     reasons: list[str] | None = None) -> str:
    """The seed paper's comparison, live: one row per served model with its answer and its test metrics, and with
    `reasons` each model's reason in words."""

    def number(value: Any, digits: int) -> str:
        return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "—"

    columns = (*COMPARE_COLUMNS, REASON_COLUMN) if reasons is not None else COMPARE_COLUMNS
    rows = [f"| {' | '.join(columns)} |", f"|{' --- |' * len(columns)}"]
    for position, (model, prediction) in enumerate(zip(served, predictions)):
        test = model["metrics"].get("test") or {}
        macro = test.get("macro_avg") or {}
        answer = ", ".join(f"**{label}** {score:.3f}" if index == 0 else f"{label} {score:.3f}"
                           for index, (label, score) in enumerate(prediction.top_k))
        cells = [f"{model['name']}:{model['version']}", str(model["kind"]), answer, number(test.get("accuracy"), 4),
                 number(macro.get("precision"), 4), number(macro.get("recall"), 4),
                 number((model["metrics"].get("timing") or {}).get("single_ms"), 2)]
        if reasons is not None:
            cells.append(markdown_text(reasons[position]))
        rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows)
