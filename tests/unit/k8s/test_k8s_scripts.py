"""k8s/deploy-kind.sh and k8s/teardown-kind.sh: syntax, shellcheck, their tool checks, and the values they
share with the manifests. (They need Docker and kind to run for real; that is not done here.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils.system_binaries import require_binary

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "k8s"
SCRIPTS = [K8S / "deploy-kind.sh", K8S / "teardown-kind.sh"]
sys.path.insert(0, str(K8S))

import k8s_manifests as km  # noqa: E402


def constant(script: Path, name: str) -> str:
    """The value of `readonly NAME=value` or `NAME=${ENV:-value}` in a script."""
    text = script.read_text()
    found = re.search(rf"^(?:readonly )?{name}=(?:\$\{{\w+:-)?([^\s}}]+)", text, re.MULTILINE)
    assert found, f"{script.name} defines no {name}"
    return found.group(1)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_bash_parses_the_script(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck_is_clean(script: Path) -> None:
    shellcheck = require_binary("shellcheck", "shellcheck")
    done = subprocess.run([shellcheck, "--shell=bash", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_script_is_strict_and_executable(script: Path) -> None:
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert os.access(script, os.X_OK)


@pytest.mark.parametrize("script, first_tool", [(SCRIPTS[0], "docker"), (SCRIPTS[1], "kind")],
                         ids=lambda value: getattr(value, "name", value))
def test_a_missing_tool_stops_the_script_with_a_clear_message(tmp_path: Path, script: Path, first_tool: str) -> None:
    """With only `dirname` on PATH, the script stops at its first tool check, before doing anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))
    done = subprocess.run([shutil.which("bash"), str(script)], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert done.returncode == 1
    assert f"'{first_tool}' is required but not on PATH; install it:" in done.stderr


def test_teardown_refuses_unknown_arguments() -> None:
    done = subprocess.run(["bash", str(SCRIPTS[1]), "--everything"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "unknown argument '--everything'" in done.stderr


def test_deploy_checks_every_tool_it_calls() -> None:
    text = SCRIPTS[0].read_text()
    needed = set(re.findall(r"^need (\w+) ", text, re.MULTILINE))
    assert needed == {"docker", "kind", "kubectl", "helm", "curl"}


def test_the_kuberay_chart_is_pinned_and_used() -> None:
    version = constant(SCRIPTS[0], "KUBERAY_CHART_VERSION")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    text = SCRIPTS[0].read_text()
    assert re.search(r'helm upgrade --install kuberay-operator kuberay/kuberay-operator --version '
                     r'"\$KUBERAY_CHART_VERSION"', text)
    assert constant(SCRIPTS[0], "KUBERAY_REPO_URL") == "https://ray-project.github.io/kuberay-helm/"


def test_the_scripts_agree_with_the_manifests() -> None:
    kind_config = yaml.safe_load((K8S / "kind-config.yaml").read_text())
    deploy, teardown = SCRIPTS
    assert constant(deploy, "CLUSTER") == constant(teardown, "CLUSTER") == kind_config["name"]
    assert constant(deploy, "IMAGE") == constant(teardown, "IMAGE") == km.IMAGE
    assert constant(deploy, "NAMESPACE") == km.NAMESPACE
    assert constant(deploy, "DEFAULT_DATA_DIR") == constant(teardown, "DATA_DIR") == km.HOST_DATA_PATH
    assert constant(deploy, "DATA_MARKER") == constant(teardown, "DATA_MARKER")
    assert kind_config["nodes"][0]["extraMounts"][0]["hostPath"] == km.HOST_DATA_PATH
    # What the smoke test and the status loop rely on.
    text = deploy.read_text()
    assert "svc/imgclf-serve-svc" in text and "rayservice/imgclf" in text
    assert "rayjob-train.yaml" in text and "rayjob-batch.yaml" in text and "apply -k" in text
    model = next(d for d in yaml.safe_load(km.load_one(K8S / "rayservice.yaml", "RayService")["spec"]["serveConfigV2"])
                 ["applications"][0]["deployments"] if d["name"] == "Classifier")["user_config"]["model"]
    assert constant(deploy, "MODEL") == model
