"""The prerequisite rule of the tests themselves: a missing prerequisite skips a test here and fails it in CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from utils.prerequisites import CI_ENV, require, require_folder, require_module
from utils.system_binaries import require_binary

MISSING = {
    "condition": lambda tmp_path: require(False, "no widget"),
    "folder": lambda tmp_path: require_folder(tmp_path / "nowhere", "the widgets"),
    "module": lambda tmp_path: require_module("imgclf_no_such_module", "no-such-package"),
    "binary": lambda tmp_path: require_binary("imgclf-no-such-binary", "no-such-package"),
}


@pytest.fixture(params=["true", None], ids=["ci", "not-ci"])
def ci(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """CI=true, or no CI variable at all."""
    if request.param is None:
        monkeypatch.delenv(CI_ENV, raising=False)
    else:
        monkeypatch.setenv(CI_ENV, request.param)
    return request.param is not None


@pytest.mark.parametrize("what", MISSING)
def test_a_missing_prerequisite_fails_in_ci_and_skips_elsewhere(what: str, ci: bool, tmp_path: Path) -> None:
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as raised:
        MISSING[what](tmp_path)
    assert ("CI must run this test" in str(raised.value)) is ci


def test_only_ci_true_means_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CI_ENV, "1")
    with pytest.raises(pytest.skip.Exception):
        require(False, "no widget")


def test_present_prerequisites_are_returned(ci: bool, tmp_path: Path) -> None:
    require(True, "never shown")
    assert require_folder(tmp_path, "the widgets") == tmp_path
    assert require_module("json", "json") is json
    assert Path(require_binary("sh", "dash")).name == "sh"
