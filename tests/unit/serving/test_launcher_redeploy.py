"""`redeploy_running` (what `imgclf serve promote|rollback` call): deploy over the running config and return only once
Serve runs it; a failed deploy is a clear error."""

from __future__ import annotations

from typing import Any

import pytest

from imgclf.errors import ConfigError
from imgclf.serving import launcher

RUNNING = {"status": "RUNNING", "deployments": {"Classifier": {"status": "HEALTHY"}, "Api": {"status": "HEALTHY"}}}
UPDATING = {"status": "RUNNING", "deployments": {"Classifier": {"status": "UPDATING"}, "Api": {"status": "HEALTHY"}}}


class FakeClient:
    """Serve's dashboard client answering the given application details one poll after another (the last repeats)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states, self.deployed, self.polls = states, [], 0

    def __call__(self, address: str) -> FakeClient:
        return self

    def deploy_applications(self, config: dict[str, Any]) -> None:
        self.deployed.append(config)

    def get_serve_details(self) -> dict[str, Any]:
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        return {"applications": {"imgclf": state}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    from ray.dashboard.modules.serve import sdk

    monkeypatch.setattr(launcher.time, "sleep", lambda seconds: None)

    def install(states: list[dict[str, Any]]) -> FakeClient:
        client = FakeClient(states)
        monkeypatch.setattr(sdk, "ServeSubmissionClient", client)
        return client

    return install


def test_it_returns_only_once_every_deployment_runs_the_new_config(fake: Any) -> None:
    client = fake([UPDATING, UPDATING, UPDATING, RUNNING])
    launcher.redeploy_running("http://head:8265", {"applications": []}, "imgclf")
    assert client.deployed == [{"applications": []}] and client.polls == 4


def test_a_failed_deploy_says_why(fake: Any) -> None:
    fake([UPDATING, {"status": "DEPLOY_FAILED", "message": "the canary version does not exist"}])
    with pytest.raises(ConfigError, match="imgclf failed to deploy: the canary version does not exist"):
        launcher.redeploy_running("http://head:8265", {"applications": []}, "imgclf")


def test_a_deploy_that_never_settles_times_out(fake: Any) -> None:
    fake([UPDATING])
    with pytest.raises(TimeoutError, match="did not run the new config"):
        launcher.redeploy_running("http://head:8265", {"applications": []}, "imgclf", timeout_s=0.05)
