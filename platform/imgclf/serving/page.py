"""What the Gradio page calls: the same decode, resize and Classifier handle as the HTTP API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
from ray.serve.handle import DeploymentHandle

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
    """The page's classify and describe functions (Gradio runs them in worker threads, off the event loop)."""

    def __init__(self, ingress: ApiIngress) -> None:
        self.ingress = ingress

    @property
    def classifier(self) -> DeploymentHandle:
        return self.ingress.classifier

    def classify(self, path: str | None) -> dict[str, float]:
        if not path:
            raise gr.Error("Choose an image first.")
        try:
            image = self.ingress.prepare(Path(path).read_bytes(), Path(path).name)
            answer = self.classifier.classify.remote(image).result()
        except ApiError as exc:
            raise gr.Error(f"That file cannot be classified: {exc.message}.") from exc
        except Exception as exc:  # noqa: BLE001 - overload or a lost replica: say so on the page, keep serving
            raise gr.Error(f"The model is busy or restarting ({type(exc).__name__}); try again in a moment.") from exc
        self.ingress.input_size = answer["input_size"]
        probabilities = dict(zip(answer["labels"], answer["probabilities"]))
        return dict(sorted(probabilities.items(), key=lambda item: -item[1])[: self.ingress.config.max_top_k])

    def describe(self) -> str:
        described = self.classifier.describe.remote().result()
        if described is None:
            return "No model is loaded yet."
        accuracy = (described["metrics"].get("test") or {}).get("accuracy")  # metrics.json: {"test": {...}, ...}
        score = f" · test accuracy **{accuracy:.4f}**" if isinstance(accuracy, (int, float)) else ""
        return f"Model **{described['name']}:{described['version']}** ({described['kind']}){score}"
