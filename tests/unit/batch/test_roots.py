"""Allowed roots: which local paths a batch job may touch, after resolving symlinks and `..`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgclf.storage import Location
from imgclf.batch.job import check_allowed
from imgclf.batch.roots import AllowedRoots
from imgclf.batch.settings import ALLOWED_ROOTS_ENV, BatchSettings
from imgclf.errors import ConfigError


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "data" / "photos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "data" / "escape")
    return tmp_path / "data"


def test_no_roots_allow_everything(data: Path) -> None:
    assert AllowedRoots.resolve(()).refusal("/etc", "input") is None
    assert not AllowedRoots()


def test_a_root_holds_itself_and_what_lies_below_it_only(data: Path) -> None:
    roots = AllowedRoots.resolve([str(data)])
    assert roots.refusal(str(data), "input") is None
    assert roots.refusal(str(data / "photos" / "new"), "output") is None
    assert roots.refusal(f"{data}-sibling", "input") == (
        f"input {data}-sibling is outside the allowed roots {data} (${ALLOWED_ROOTS_ENV})")
    assert "input" in roots.refusal(str(data / "photos" / ".." / ".."), "input")


def test_a_symlink_is_judged_by_where_it_points(data: Path) -> None:
    refusal = AllowedRoots.resolve([str(data)]).refusal(str(data / "escape"), "input")
    assert refusal == (f"input {data / 'escape'} (resolves to {data.parent / 'elsewhere'}) is outside the allowed "
                       f"roots {data} (${ALLOWED_ROOTS_ENV})")


def test_the_job_checks_input_output_and_registry_before_any_work(data: Path) -> None:
    roots = AllowedRoots.resolve([str(data)])
    inside = {"input": Location.parse(str(data / "photos")), "output": Location.parse(str(data / "out")),
              "registry": Location.parse((data / "registry").as_uri())}  # a file:// URI is a local folder too
    check_allowed(roots, inside)
    with pytest.raises(ConfigError, match="^registry .* is outside the allowed roots"):
        check_allowed(roots, {**inside, "registry": Location.parse(str(data.parent / "registry"))})
    with pytest.raises(ConfigError, match="^output .*escape/out .* is outside the allowed roots"):
        check_allowed(roots, {**inside, "output": Location.parse(str(data / "escape" / "out"))})
    with pytest.raises(ConfigError, match="^input mock://bucket/photos is not a local folder"):  # as s3:// would be
        check_allowed(roots, {**inside, "input": Location.parse("mock:///bucket/photos")})


def test_settings_take_the_roots_from_the_environment(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    monkeypatch.setenv(ALLOWED_ROOTS_ENV, f"{data}{os.pathsep}/srv/images")
    assert BatchSettings(input="a", output="b", model="m").allowed_roots == (str(data), "/srv/images")
    monkeypatch.delenv(ALLOWED_ROOTS_ENV)
    assert BatchSettings(input="a", output="b", model="m").allowed_roots == ()


@pytest.mark.parametrize("root", ["relative/folder", "s3://bucket"])
def test_a_root_that_is_not_an_absolute_local_folder_is_refused(root: str) -> None:
    with pytest.raises(ConfigError, match="allowed roots must be absolute local folders"):
        BatchSettings(input="a", output="b", model="m", allowed_roots=(root,))
