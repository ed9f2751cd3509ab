"""The page's corrections without a browser: the panel under the prediction, the answer shown kept for the correction
(never classified again), who corrects, the refusals as toasts, and the serving page's backend storing the upload
against the model version that answered."""

from __future__ import annotations

import asyncio
import csv
import hashlib
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from starlette.requests import Request

from gradio_app import build_page
from gradio_app.components import Answer
from imgclf.models.prediction import Prediction
from imgclf.serving.corrections import MANIFEST
from imgclf.serving.page import PageBackend
from imgclf.serving.service import ClassifyService
from imgclf.serving.settings import ApiConfig
from utils.images import BLUE, make_image_bytes

LABELS = ("cat", "dog", "fox")


class FakeModels:
    """classify answering as version "2" of "pets" (a canary), and a correct that records what it is given."""

    def __init__(self) -> None:
        self.classified: list[tuple[str, str | None]] = []
        self.corrections: list[tuple[str, Answer, str, str]] = []

    def classify(self, path: str, model: str | None = None) -> Answer:
        self.classified.append((path, model))
        return Answer({"dog": 0.75, "cat": 0.25}, model or "pets", "2", LABELS)

    def correct(self, path: str, answer: Answer, label: str, who: str) -> None:
        self.corrections.append((path, answer, label, who))

    def describe(self) -> str:
        return "pets:1"

    def models(self) -> list[str]:
        return ["pets", "pets-knn"]


def handler(page: gr.Blocks, **match: Any) -> Any:
    [found] = [fn for fn in page.fns.values() if all(getattr(fn, key) == value for key, value in match.items())]
    return found


def by_id(page: gr.Blocks, elem_id: str) -> Any:
    [block] = [block for block in page.blocks.values() if getattr(block, "elem_id", None) == elem_id]
    return block


def request_from(host: str = "10.1.2.3", username: str | None = None) -> gr.Request:
    scope = {"type": "http", "client": (host, 5000), "headers": [], "path": "/", "method": "POST", "query_string": b""}
    return gr.Request(request=Request(scope), username=username)


def classify_on(page: gr.Blocks, path: str, model: str | None = None) -> tuple[Any, Any]:
    """The Classify click: the label's scores and the state kept for a correction."""
    return asyncio.run(handler(page, api_name="classify").fn(path, *([model] if model else [])))


def save_on(page: gr.Blocks, path: str | None, shown: Any, label: str | None, request: gr.Request) -> str:
    return asyncio.run(handler(page, api_name="correct").fn(path, shown, label, request))


@pytest.fixture
def fakes() -> FakeModels:
    return FakeModels()


@pytest.fixture
def page(fakes: FakeModels) -> gr.Blocks:
    return build_page(fakes.classify, fakes.describe, models=fakes.models, correct=fakes.correct)


def test_the_panel_sits_under_the_prediction_and_save_takes_the_upload_the_answer_and_the_label(
        page: gr.Blocks) -> None:
    label = next(block for block in page.blocks.values() if isinstance(block, gr.Label))
    column = next(block for block in page.blocks.values() if isinstance(block, gr.Column) and label in block.children)
    panel = by_id(page, "correction")
    assert column.children.index(panel) == column.children.index(label) + 1
    choice, save = by_id(page, "correction-choice"), by_id(page, "correction-save")
    assert choice.label == "Wrong? Pick the right label" and save.value == "Save correction"
    classify, correct = handler(page, api_name="classify"), handler(page, api_name="correct")
    state = classify.outputs[1]
    assert isinstance(state, gr.State) and classify.outputs[0]._id == label._id
    image = classify.inputs[0]
    assert [block._id for block in correct.inputs] == [image._id, state._id, choice._id]
    assert correct.outputs[0]._id == by_id(page, "correction-saved")._id
    assert (save._id, "click") in correct.targets


def test_the_api_of_classify_still_answers_the_label_alone_and_correct_takes_image_and_label(
        page: gr.Blocks) -> None:
    """gradio_client callers of /classify get the Label as before (the kept answer is server-side state)."""
    endpoints = page.get_api_info()["named_endpoints"]
    assert [value["component"] for value in endpoints["/classify"]["returns"]] == ["Label"]
    assert [value["component"] for value in endpoints["/correct"]["parameters"]] == ["Image", "Dropdown"]
    assert set(endpoints) == {"/classify", "/correct"}  # the page-load handler is private


def test_an_answer_offers_its_models_labels_and_the_correction_names_the_version_that_answered(
        page: gr.Blocks, fakes: FakeModels) -> None:
    scores, shown = classify_on(page, "upload.png", "pets")
    assert scores == {"dog": 0.75, "cat": 0.25}
    state = handler(page, api_name="classify").outputs[1]
    [offer] = [fn for fn in page.fns.values() if fn.inputs and fn.inputs[0]._id == state._id]
    assert offer.api_visibility == "private" and offer.trigger_only_on_success
    offered = offer.fn(shown)
    answered, menu, saved = offered
    assert answered == "Answered by pets:2" and saved == ""
    assert [value for value, _ in menu.choices] == list(LABELS) and menu.value is None
    assert save_on(page, "upload.png", shown, "fox", request_from()) == "Saved as fox · thank you"
    [(path, answer, label, who)] = fakes.corrections
    assert (path, label, who) == ("upload.png", "fox", "10.1.2.3")
    assert (answer.model, answer.version, answer.label) == ("pets", "2", "dog")
    assert fakes.classified == [("upload.png", "pets")]  # the correction did not classify again


def test_who_is_the_pages_user_when_it_has_a_password(page: gr.Blocks, fakes: FakeModels) -> None:
    _, shown = classify_on(page, "upload.png")
    save_on(page, "upload.png", shown, "cat", request_from(username="imgclf"))
    assert fakes.corrections[0][3] == "imgclf"


@pytest.mark.parametrize("upload, label, says", [
    ("another.png", "cat", "Classify this image first"),  # the answer shown is not this upload's
    (None, "cat", "Classify this image first"),
    ("upload.png", None, "Pick the right label first"),
])
def test_a_save_without_a_shown_answer_for_the_upload_or_a_label_is_refused(
        page: gr.Blocks, fakes: FakeModels, upload: str | None, label: str | None, says: str) -> None:
    _, shown = classify_on(page, "upload.png")
    with pytest.raises(gr.Error, match=says):
        save_on(page, upload, shown, label, request_from())
    with pytest.raises(gr.Error, match="Classify this image first"):
        save_on(page, "upload.png", None, "cat", request_from())
    assert not fakes.corrections


def test_a_plain_scores_function_offers_its_own_labels_and_names_no_model(fakes: FakeModels) -> None:
    page = build_page(lambda path: {"dog": 0.75, "cat": 0.25}, fakes.describe, correct=fakes.correct)
    scores, shown = classify_on(page, "upload.png")
    assert scores == {"dog": 0.75, "cat": 0.25}
    save_on(page, "upload.png", shown, "cat", request_from())
    [(_, answer, _, _)] = fakes.corrections
    assert (answer.model, answer.version, answer.label, answer.labels) == (None, None, "dog", ("dog", "cat"))


def test_offer_corrections_shows_or_hides_the_panel_on_every_load(fakes: FakeModels) -> None:
    switch = {"on": False}
    page = build_page(fakes.classify, fakes.describe, correct=fakes.correct, offer_corrections=lambda: switch["on"])
    group = by_id(page, "correction")
    load = handler(page, name="load")
    assert asyncio.run(load.fn())[group]["visible"] is False
    switch["on"] = True
    assert asyncio.run(load.fn())[group]["visible"] is True


def test_without_correct_the_page_has_no_correction_controls(fakes: FakeModels) -> None:
    page = build_page(lambda path: {"dog": 1.0}, fakes.describe)
    elem_ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert not {"correction", "correction-choice", "correction-save", "correction-saved"} & elem_ids
    assert "/correct" not in page.get_api_info()["named_endpoints"]


class CanaryClassifier:
    """The Classifier deployment answering with version "2" (the canary) while version "1" is the default."""

    def __init__(self) -> None:
        self.summaries_ = [{"name": "pets", "version": version, "kind": "vgg16", "labels": list(LABELS),
                            "input_size": 8} for version in ("1", "2")]

    async def classify(self, image: np.ndarray, k: int, model: str | None) -> Prediction:
        return Prediction.from_probabilities(np.array([0.2, 0.7, 0.1]), LABELS, k, model_name="pets",
                                             model_version="2")

    async def summaries(self) -> list[dict[str, Any]]:
        return self.summaries_

    async def describe_all(self) -> list[dict[str, Any]]:
        return self.summaries_


def serving_page(tmp_path: Path, feedback_dir: str | None, per_minute: int = 30) -> tuple[gr.Blocks, PageBackend]:
    service = ClassifyService(CanaryClassifier(), ApiConfig(feedback_dir=feedback_dir,
                                                            corrections_per_minute=per_minute))
    backend = PageBackend(service)
    return build_page(backend.classify, backend.describe, correct=backend.correct,
                      offer_corrections=backend.corrections_on), backend


def test_the_serving_page_stores_the_upload_against_the_version_that_answered(tmp_path: Path) -> None:
    folder = tmp_path / "feedback"
    page, _ = serving_page(tmp_path, str(folder))
    upload = tmp_path / "upload.png"
    upload.write_bytes(make_image_bytes("png", color=BLUE))
    _, shown = classify_on(page, str(upload))
    save_on(page, str(upload), shown, "fox", request_from(username="ann"))
    digest = hashlib.sha256(upload.read_bytes()).hexdigest()
    assert (folder / "fox" / f"{digest[:16]}.png").read_bytes() == upload.read_bytes()
    with open(folder / MANIFEST, newline="") as manifest:
        [row] = list(csv.DictReader(manifest))
    assert {key: row[key] for key in ("who", "model", "model_version", "predicted", "label", "sha256")} == {
        "who": "ann", "model": "pets", "model_version": "2", "predicted": "dog", "label": "fox", "sha256": digest}


def test_the_serving_pages_refusals_are_toasts_and_write_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "feedback"
    page, _ = serving_page(tmp_path, str(folder), per_minute=2)  # every attempt counts, refused ones too
    upload = tmp_path / "upload.png"
    upload.write_bytes(make_image_bytes("png", color=BLUE))
    _, shown = classify_on(page, str(upload))
    with pytest.raises(gr.Error, match="The correction was not saved: label must be one of"):
        save_on(page, str(upload), shown, "wolf", request_from())
    save_on(page, str(upload), shown, "fox", request_from())
    with pytest.raises(gr.Error, match="The correction was not saved: more than 2 corrections a minute"):
        save_on(page, str(upload), shown, "cat", request_from())
    assert [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))] == [
        MANIFEST, "fox", f"fox/{hashlib.sha256(upload.read_bytes()).hexdigest()[:16]}.png"]


def test_with_no_feedback_dir_the_serving_page_offers_no_corrections_and_refuses_one(tmp_path: Path) -> None:
    page, backend = serving_page(tmp_path, None)
    assert backend.corrections_on() is False
    upload = tmp_path / "upload.png"
    upload.write_bytes(make_image_bytes("png"))
    _, shown = classify_on(page, str(upload))
    with pytest.raises(gr.Error, match="Corrections are off"):
        save_on(page, str(upload), shown, "fox", request_from())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload.png"]
