"""The classify service on its own, against a stand-in for the Classifier deployment's handle: retries on a lost
replica, the one table of Classifier failures, the catalogue and readiness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError

from imgclf.errors import ExplanationError, ModelNotServedError, UnknownClassError
from imgclf.explanations.explanation import NEIGHBOURS, Explanation, ExplanationParts, Neighbour
from imgclf.models.prediction import Prediction
from imgclf.serving.errors import BadRequest, ModelNotFound, Unavailable
from imgclf.serving.service import Catalogue, ClassifyService, HandleClassifier
from imgclf.serving.settings import ApiConfig

LABELS = ["cat", "dog"]
SUMMARY = {"name": "pets", "version": "2", "kind": "vgg16", "labels": LABELS, "input_size": 8}


class Method:
    """A handle method: `.remote(...)` answers with the next of `outcomes` (an exception is raised), then repeats
    the last; it records each call's arguments."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[Any, ...]] = []

    async def remote(self, *args: Any) -> Any:
        self.calls.append(args)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class EachOf(Method):
    """classify_all: `classify` of each image in turn (the calls recorded by `classify`), the version drawn once."""

    def __init__(self, classify: Method) -> None:
        super().__init__()
        self.classify = classify

    async def remote(self, images: list[np.ndarray], k: int, model: str | None) -> list[Prediction]:
        self.calls.append((images, k, model))
        return [await self.classify.remote(image, k, model) for image in images]


class Handle:
    def __init__(self, classify: Method, summaries: Method | None = None, explain: Method | None = None) -> None:
        self.classify = classify
        self.classify_all = EachOf(classify)
        self.summaries = summaries or Method([SUMMARY])
        self.describe_all = Method([{**SUMMARY, "metrics": {}}])
        self.explain = explain or Method(explanation())


def explanation() -> Explanation:
    """A KNN's reason for `answer`: two neighbours, both dogs."""
    neighbours = tuple(Neighbour(f"dog/{index}.png", "dog", 0.5 + index, np.full((4, 4, 3), 9, np.uint8))
                       for index in range(2))
    return Explanation(model_name="pets", model_version="2", kind="knn", predicted="dog", label="dog", label_index=1,
                       score=0.75, parts=ExplanationParts(NEIGHBOURS, neighbours=neighbours))


def answer(version: str = "2", k: int = 1) -> Prediction:
    return Prediction.from_probabilities(np.array([0.25, 0.75]), LABELS, k, model_name="pets", model_version=version)


def service(handle: Handle, **config: Any) -> ClassifyService:
    return ClassifyService(HandleClassifier(handle), ApiConfig.from_mapping(config))


def test_the_images_of_one_request_go_to_a_replica_in_one_call() -> None:
    """classify_all: one call (the replica draws the answering version once for all), retried as classify is."""
    handle = Handle(Method(RayActorError(), answer()))
    images = [np.zeros((8, 8, 3), np.uint8)] * 3
    predictions = asyncio.run(service(handle).classify_all(images, 1, "pets"))
    assert [(p.label, p.model_version) for p in predictions] == [("dog", "2")] * 3
    assert len(handle.classify_all.calls) == 2  # the one call, sent again after the replica died


def test_a_replica_that_dies_once_is_retried_and_the_request_answered() -> None:
    handle = Handle(Method(RayActorError(), answer()))
    prediction = asyncio.run(service(handle).classify(np.zeros((8, 8, 3), np.uint8), 1, "pets"))
    assert (prediction.label, prediction.score) == ("dog", 0.75)
    assert len(handle.classify.calls) == 2  # the same image sent again
    assert all(call[1:] == (1, "pets") for call in handle.classify.calls)


def test_replicas_dying_past_the_retries_are_a_503_to_retry() -> None:
    handle = Handle(Method(RayActorError()))
    with pytest.raises(Unavailable) as failed:
        asyncio.run(service(handle, replica_retries=2, retry_after_s=4).classify(np.zeros((8, 8, 3), np.uint8), 1))
    assert len(handle.classify.calls) == 3
    assert (failed.value.code, failed.value.headers) == ("replica_unavailable", {"Retry-After": "4"})


def test_a_full_queue_is_waited_out_up_to_overload_wait_s_then_a_503() -> None:
    full = BackPressureError(num_queued_requests=9, max_queued_requests=8)
    handle = Handle(Method(full, full, answer()))
    prediction = asyncio.run(service(handle, overload_wait_s=5).classify(np.zeros((8, 8, 3), np.uint8), 1))
    assert prediction.label == "dog" and len(handle.classify.calls) == 3

    handle = Handle(Method(full))
    started = time.monotonic()
    with pytest.raises(Unavailable, match="at capacity") as overloaded:
        asyncio.run(service(handle, overload_wait_s=0.3).classify(np.zeros((8, 8, 3), np.uint8), 1))
    assert 0.3 <= time.monotonic() - started < 1.0
    assert overloaded.value.code == "overloaded" and 3 <= len(handle.classify.calls) <= 12  # backing off

    handle = Handle(Method(full, answer()))
    with pytest.raises(Unavailable):
        asyncio.run(service(handle, overload_wait_s=0).classify(np.zeros((8, 8, 3), np.uint8), 1))
    assert len(handle.classify.calls) == 1


def test_a_model_not_served_is_a_404() -> None:
    with pytest.raises(ModelNotFound, match="does not serve 'cats'"):
        asyncio.run(service(Handle(Method(ModelNotServedError("does not serve 'cats'")))).classify(
            np.zeros((8, 8, 3), np.uint8), 1, "cats"))


def test_the_catalogue_sizes_uploads_and_refreshes_when_a_new_version_answers() -> None:
    summaries = Method([SUMMARY], [{**SUMMARY, "version": "3", "input_size": 4}])
    classify = service(Handle(Method(answer("2"), answer("3")), summaries))
    assert classify.sized(np.zeros((16, 16, 3), np.uint8)).shape == (16, 16, 3)  # unknown yet: as it is
    asyncio.run(classify.classify(np.zeros((16, 16, 3), np.uint8), 1))
    assert classify.sized(np.zeros((16, 16, 3), np.uint8)).shape == (8, 8, 3)
    asyncio.run(classify.classify(np.zeros((8, 8, 3), np.uint8), 1))  # version 3 answers: the catalogue follows
    assert len(summaries.calls) == 2 and classify.sized(np.zeros((16, 16, 3), np.uint8)).shape == (4, 4, 3)
    assert asyncio.run(classify.model("pets", "3"))["version"] == "3"
    with pytest.raises(ModelNotFound, match="model pets version 1 is not served here; this server serves pets version 3"):
        asyncio.run(classify.model("pets", "1"))


def test_ready_names_the_default_model_and_a_busy_replica_stays_ready() -> None:
    busy = BackPressureError(num_queued_requests=9, max_queued_requests=8)
    classify = service(Handle(Method(answer()), Method([SUMMARY], busy)), overload_wait_s=0)
    assert asyncio.run(classify.ready()) == "pets:2"
    assert asyncio.run(classify.ready()) == "pets:2"  # overloaded, but it answered before
    with pytest.raises(Unavailable) as unready:
        asyncio.run(service(Handle(Method(answer()), Method([]))).ready())
    assert unready.value.code == "not_ready" and unready.value.headers == {"Retry-After": "1"}


@pytest.mark.parametrize("failure, code", [
    (UnknownClassError("unknown class 'cow'; this model's classes are cat, dog"), "unknown_class"),
    (ExplanationError("explanations are off here"), "no_explanation"),
])
def test_an_explanation_that_cannot_be_given_is_a_400_with_the_replicas_words(failure: Exception, code: str) -> None:
    wrapped = RayTaskError("explain", "traceback", failure).as_instanceof_cause()  # how Ray raises a replica's error
    handle = Handle(Method(answer()), explain=Method(wrapped))
    with pytest.raises(BadRequest) as refused:
        asyncio.run(service(handle).explain(np.zeros((8, 8, 3), np.uint8), "cow", "pets"))
    assert (refused.value.status, refused.value.code, refused.value.message) == (400, code, str(failure))
    assert handle.explain.calls[0][1:] == ("cow", "pets")


def test_an_explanation_whose_replica_died_is_asked_again() -> None:
    handle = Handle(Method(answer()), explain=Method(RayActorError(), explanation()))
    explained = asyncio.run(service(handle).explain(np.zeros((8, 8, 3), np.uint8)))
    assert [n.reference for n in explained.parts.neighbours] == ["dog/0.png", "dog/1.png"]
    assert len(handle.explain.calls) == 2


def test_the_catalogue_finds_a_pinned_version_by_name_colon_version() -> None:
    catalogue = Catalogue(({**SUMMARY, "version": "1"}, {**SUMMARY, "version": "2", "input_size": 4}))
    assert catalogue.find("pets:2")["input_size"] == 4 and catalogue.find("pets")["version"] == "1"
    assert catalogue.find("pets:3") is None and catalogue.find("cats:1") is None
