"""What the Gradio page calls: the classify service the HTTP routes use, its errors said as toasts, and the store of
the corrections people make on it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from gradio_app.components import Answer, markdown_text
from imgclf.data.scan import is_image_name
from imgclf.errors import ConfigError
from imgclf.explanations.explanation import Explanation
from imgclf.models.prediction import Prediction
from imgclf.serving.corrections import CorrectionStore
from imgclf.serving.errors import ServiceError, Unavailable
from imgclf.serving.request_log import request_id
from imgclf.serving.service import ClassifyService
from imgclf.storage import absolute

PAGE_ROUTE = "/ui"  # the route of the page's classifications in the request log
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
    """The page's classify, explain, compare, describe and correct functions: coroutines Gradio awaits on the app's
    event loop, going through the same classify service (decode, resize, replica retries) as the HTTP routes."""

    def __init__(self, service: ClassifyService) -> None:
        self.service = service
        self.store: CorrectionStore | None = None  # made for the configured feedback_dir when a correction comes

    async def classify(self, path: str | None, model: str | None = None) -> Answer:
        """The scores of `model` (default: the first served) for the uploaded file, with the model and version that
        answered (a canary's, when it did) and its labels."""
        started = time.time()
        data = await self.read(path)
        image = await self.decode(data, path)
        prediction = await self.predict(image, self.service.config.max_top_k, model or None)
        self.service.log_request(request_id(), data, prediction, PAGE_ROUTE, started)
        summary = self.service.catalogue.find(prediction.model_name, prediction.model_version)
        labels = tuple(summary["labels"]) if summary else tuple(sorted(prediction.scores()))
        return Answer(prediction.scores(), prediction.model_name, prediction.model_version, labels)

    def corrections_on(self) -> bool:
        """Whether corrections are configured now (feedback_dir, or $IMGCLF_FEEDBACK_DIR)."""
        return bool(self.service.config.feedback_dir)

    async def correct(self, path: str, answer: Answer, label: str, who: str) -> None:
        """Store the uploaded file as an image of `label`, against `answer` (the one the page showed)."""
        store = self.corrections()
        data = await self.read(path)
        with correction_refused():
            await asyncio.to_thread(store.save, data, label=label, labels=answer.labels, who=who,
                                    model=answer.model or "", model_version=answer.version or "",
                                    predicted=answer.label)

    def corrections(self) -> CorrectionStore:
        """The store of the configured folder and rate (kept while they stay the same, with its rate window)."""
        config = self.service.config
        if not config.feedback_dir:
            raise gr.Error("Corrections are off on this server.")
        store = self.store
        if store is None or (store.folder, store.per_minute) != (Path(absolute(config.feedback_dir)),
                                                                 config.corrections_per_minute):
            try:
                store = self.store = CorrectionStore(config.feedback_dir, config.corrections_per_minute,
                                                     decode=self.service.decode)
            except ConfigError as exc:
                raise gr.Error(f"Corrections cannot be saved here: {exc}.") from exc
        return store

    async def model_names(self) -> list[str]:
        """The served models' names, the default first (the Classify tab's Model menu), from the service's catalogue
        (summaries, not every model's metrics)."""
        with said_on_page():
            return list(dict.fromkeys(model["name"] for model in (await self.service.refresh()).models))  # a canary once

    async def explain(self, path: str | None, model: str | None = None) -> tuple[np.ndarray, Explanation]:
        """The uploaded file as decoded and why `model` (default: the first served) answers what it does for it."""
        image = await self.decoded(path, "explained")
        with said_on_page("explained"):
            return image, await self.explained(image, model or None)

    async def compare(self, path: str | None, reasons: bool = False) -> str:
        """A Markdown table: every served model's top 3 for the uploaded file (decoded once) beside its test accuracy,
        precision, recall and milliseconds per image (from its metrics.json), the default model first; with
        `reasons`, each model's explanation summary in a last column. A canary is a row of its own: each row asks
        its version by name:version."""
        image = await self.decoded(path)
        with said_on_page():
            served = await self.service.models()
        names = [f"{model['name']}:{model['version']}" for model in served]
        predictions = await asyncio.gather(*(self.predict(image, COMPARE_TOP_K, name) for name in names))
        summaries = await asyncio.gather(*(self.reason(image, name) for name in names)) if reasons else None
        return comparison_table(served, predictions, summaries)

    async def decoded(self, path: str | None, done: str = "classified") -> np.ndarray:
        """The uploaded file read and decoded as the API decodes a body (`done`: what cannot be done if it fails)."""
        return await self.decode(await self.read(path), path, done)

    @staticmethod
    async def read(path: str | None) -> bytes:
        if not path:
            raise gr.Error("Choose an image first.")
        return await asyncio.to_thread(Path(path).read_bytes)

    async def decode(self, data: bytes, path: str, done: str = "classified") -> np.ndarray:
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


@contextmanager
def correction_refused() -> Iterator[None]:
    """A refused correction (too many, not an image, a label the model lacks) as a toast; nothing was saved."""
    try:
        yield
    except ServiceError as exc:
        raise gr.Error(f"The correction was not saved: {exc.message}.") from exc


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
