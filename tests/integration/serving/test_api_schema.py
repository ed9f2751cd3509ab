"""Schemathesis against the served API's own OpenAPI document: for every generated request of every operation the
answer is no 5xx, its status is one the document declares, its content type and body match the declared
response; afterwards a good classify still succeeds."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from utils.digits_run import VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 40  # per operation and mode: every classify is a real model call on a 2-CPU head
OPERATIONS = {"POST /v1/classify", "GET /v1/models", "GET /healthz", "GET /readyz"}


@pytest.fixture(scope="module")
def api_schema(served: ServeApp):
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


def test_the_document_lists_the_api(api_schema) -> None:
    operations = {f"{result.ok().method.upper()} {result.ok().path}" for result in api_schema.get_all_operations()}
    assert OPERATIONS <= operations, operations


# One test per operation and generation mode, driven by hypothesis directly: schemathesis' own pytest loader
# (`schemathesis.pytest.from_fixture`) sets `request.node._nodeid`, which pytest 9 no longer has.
CASES = [("POST", "/v1/classify", GenerationMode.POSITIVE), ("POST", "/v1/classify", GenerationMode.NEGATIVE),
         ("GET", "/v1/models", GenerationMode.POSITIVE), ("GET", "/healthz", GenerationMode.POSITIVE),
         ("GET", "/readyz", GenerationMode.POSITIVE)]


@pytest.mark.parametrize("method, path, mode", CASES, ids=[f"{m}{p.replace('/', '-')}-{g.value}" for m, p, g in CASES])
def test_generated_requests(api_schema, method: str, path: str, mode: GenerationMode) -> None:
    statuses: list[int] = []

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(case=api_schema[path][method].as_strategy(generation_mode=mode))
    def answer_each(case) -> None:
        statuses.append(case.call_and_validate(checks=CHECKS, timeout=60).status_code)

    answer_each()
    assert statuses and all(status < 500 for status in statuses), statuses


def test_a_good_classify_still_succeeds(api_schema, served: ServeApp, trained_run: TrainedRun) -> None:
    """After the generated requests: a real digit, sent as a form and as the body, answers 200 as documented."""
    digit = sorted((trained_run.data_dir / "7").glob("*.png"))[0].read_bytes()
    operation = api_schema["/v1/classify"]["POST"]
    for body, media_type in (({"file": digit}, "multipart/form-data"), (digit, "image/png")):
        case = operation.Case(body=body, media_type=media_type, query={"top_k": 3})
        answer = case.call_and_validate(checks=CHECKS, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"]["name"] == VGG_MODEL and len(answer.json()["top_k"]) == 3
    assert httpx.get(f"{served.url}/readyz", timeout=30).json()["status"] == "ready"
