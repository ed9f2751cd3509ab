"""The response headers naming the model and the version that answered a classification (`/v1/classify` and the
inference protocol's `/v2/.../infer`): what a client reads to know which version answered (a canary's, maybe), and
what the Api's request metrics are tagged with."""

from __future__ import annotations

from typing import Any

from imgclf.models.prediction import Prediction

MODEL_HEADER, VERSION_HEADER = "X-Model-Name", "X-Model-Version"
TAG_OF_HEADER = {MODEL_HEADER.lower().encode(): "name", VERSION_HEADER.lower().encode(): "version"}


def answered_by(prediction: Prediction) -> dict[str, str]:
    """The response headers naming the model and the version that answered."""
    return {MODEL_HEADER: prediction.model_name, VERSION_HEADER: prediction.model_version}


def answering_version(headers: Any) -> dict[str, str]:
    """{name, version} of the model that answered, from a response's ASGI headers (none for other answers)."""
    return {TAG_OF_HEADER[key.lower()]: value.decode("latin-1") for key, value in headers
            if key.lower() in TAG_OF_HEADER}
