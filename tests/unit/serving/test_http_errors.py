"""One table from Ray's failures to the API's 503 answers, beside the decode-error table."""

from __future__ import annotations

import pytest
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from imgclf.errors import CorruptImageError, ModelNotLoadedError
from imgclf.serving.http_errors import classifier_failure, decode_failure


@pytest.mark.parametrize("failure, code", [(BackPressureError(num_queued_requests=5, max_queued_requests=4), "overloaded"),
                                           (RayActorError(), "replica_unavailable"),
                                           (ModelNotLoadedError(), "model_not_loaded")])
def test_every_classifier_failure_is_a_503_to_retry(failure: Exception, code: str) -> None:
    error = classifier_failure(failure, retry_after_s=3)
    assert (error.status, error.code, error.headers) == (503, code, {"Retry-After": "3"})
    assert error.message


def test_a_decode_failure_names_its_cause_not_the_source() -> None:
    error = decode_failure(CorruptImageError("/srv/upload.png", "damaged or truncated image"))
    assert (error.status, error.code, error.message) == (400, "corrupt_image", "damaged or truncated image")
