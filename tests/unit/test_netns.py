"""The two-host helper's fallback rule, on this machine's real `ip netns`: where network namespaces are permitted, CI
(CI=true) refuses the one-host fallback; where they are not, or outside CI, the fallback runs, says why, and is
recorded as a test property and named in the terminal summary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from utils.netns import MECHANISM_PROPERTY, OneHost, two_hosts
from utils.prerequisites import CI_ENV, require
from utils.system_binaries import require_binary

TESTS = Path(__file__).resolve().parents[1]
SUMMARY_CONFTEST = TESTS / "integration" / "deploy" / "conftest.py"
FALLBACK = "two raylets on one host (no network namespace: `ip netns add` failed: "
WITHOUT_NAMESPACES = ["--bounding-set=-sys_admin", "--inh-caps=-sys_admin"]  # setpriv: no CAP_SYS_ADMIN
FALLBACK_CHILD = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from utils.netns import two_hosts
with two_hosts() as hosts:
    print(hosts.mechanism)
"""
INNER_CONFTEST = f"""
import importlib.util
import sys
sys.path.insert(0, {str(TESTS)!r})
spec = importlib.util.spec_from_file_location("two_host_summary", {str(SUMMARY_CONFTEST)!r})
summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary)
pytest_terminal_summary = summary.pytest_terminal_summary
"""
INNER_TEST = """
from utils.netns import MECHANISM_PROPERTY, two_hosts

def test_on_two_hosts(record_property):
    with two_hosts({suffix}) as hosts:
        record_property(MECHANISM_PROPERTY, hosts.mechanism)
"""


@pytest.fixture
def taken_suffix() -> Iterator[int]:
    """A namespace number whose namespace exists already, so that `ip netns add` fails for real (above the numbers
    two_hosts() takes from process ids: no two-host test's own)."""
    require(os.geteuid() == 0, "creating a network namespace needs root")
    suffix = 251 + os.getpid() % 4
    ip = require_binary("ip", "iproute2")
    added = subprocess.run([ip, "netns", "add", f"imgclf-w{suffix}"], capture_output=True, text=True, check=False)
    assert added.returncode == 0, added.stderr
    try:
        yield suffix
    finally:
        subprocess.run([ip, "netns", "delete", f"imgclf-w{suffix}"], capture_output=True, check=False)


def test_ci_refuses_the_fallback_where_namespaces_are_permitted(taken_suffix: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CI_ENV, "true")
    refused = "permits network namespaces .* CI must run the two-host path"
    with pytest.raises(pytest.fail.Exception, match=refused), two_hosts(taken_suffix):
        pass


def test_outside_ci_the_fallback_runs_and_says_why(taken_suffix: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CI_ENV, raising=False)
    with two_hosts(taken_suffix) as hosts:
        assert isinstance(hosts, OneHost)
        assert hosts.mechanism.startswith(FALLBACK) and "File exists" in hosts.mechanism, hosts.mechanism


def test_ci_takes_the_fallback_where_namespaces_are_not_permitted() -> None:
    require(os.geteuid() == 0, "dropping CAP_SYS_ADMIN to forbid namespaces needs root")
    setpriv = require_binary("setpriv", "util-linux")
    done = subprocess.run([setpriv, *WITHOUT_NAMESPACES, sys.executable, "-c", FALLBACK_CHILD], capture_output=True,
                          text=True, timeout=60, env={**os.environ, CI_ENV: "true"}, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(FALLBACK), done.stdout


def test_a_fallback_is_a_test_property_and_named_in_the_terminal_summary(taken_suffix: int, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TEST.format(suffix=taken_suffix))
    report = tmp_path / "report.xml"
    env = {key: value for key, value in os.environ.items() if key != CI_ENV}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.split(" two-host cluster ", 1)[-1].splitlines()
    assert len(summary) > 1 and summary[1].startswith(FALLBACK), done.stdout
    properties = ElementTree.parse(report).iter("property")
    [recorded] = [prop.get("value") for prop in properties if prop.get("name") == MECHANISM_PROPERTY]
    assert recorded == summary[1]
