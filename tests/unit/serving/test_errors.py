"""One table from the Classifier's failures to 503 answers, beside the decode-error table; each error kind carries
its status."""

from __future__ import annotations

import pytest
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from imgclf.errors import CorruptImageError, ExplanationError, ModelNotLoadedError, UnknownClassError, UnsupportedImageError
from imgclf.serving.errors import BadRequest, Unavailable, UnsupportedMedia, decode_failure, explanation_failure, unavailable


@pytest.mark.parametrize("failure, code", [(BackPressureError(num_queued_requests=5, max_queued_requests=4), "overloaded"),
                                           (RayActorError(), "replica_unavailable"),
                                           (ModelNotLoadedError(), "model_not_loaded")])
def test_every_classifier_failure_is_a_503_to_retry(failure: Exception, code: str) -> None:
    error = unavailable(failure, retry_after_s=3)
    assert isinstance(error, Unavailable)
    assert (error.status, error.code, error.headers) == (503, code, {"Retry-After": "3"})
    assert error.message


def test_a_decode_failure_names_its_cause_not_the_source() -> None:
    error = decode_failure(CorruptImageError("/srv/upload.png", "damaged or truncated image"))
    assert isinstance(error, BadRequest)
    assert (error.status, error.code, error.message) == (400, "corrupt_image", "damaged or truncated image")
    unsupported = decode_failure(UnsupportedImageError("/srv/notes.jpg", "not an image"))
    assert isinstance(unsupported, UnsupportedMedia) and (unsupported.status, unsupported.code) == (415, "unsupported_image")


def test_with_message_keeps_kind_code_and_headers() -> None:
    error = unavailable(RayActorError(), retry_after_s=2).with_message("image 3: gone")
    assert isinstance(error, Unavailable)
    assert (error.status, error.code, error.message, error.headers) == (
        503, "replica_unavailable", "image 3: gone", {"Retry-After": "2"})


def test_an_unknown_class_and_a_missing_explanation_are_400s_with_their_own_codes() -> None:
    unknown = explanation_failure(UnknownClassError("unknown class 'cow'; this model's classes are cat, dog"))
    assert (type(unknown), unknown.status, unknown.code) == (BadRequest, 400, "unknown_class")
    assert unknown.message == "unknown class 'cow'; this model's classes are cat, dog"
    none = explanation_failure(ExplanationError("models of kind toy give no explanations"))
    assert (none.status, none.code) == (400, "no_explanation")
