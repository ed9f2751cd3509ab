"""The RayJobs' entrypoints are real commands: the script exists and runs, and its arguments parse with the
`imgclf` CLI. An integration test can reuse them: `k8s_manifests.rayjob_command` and `rebase_paths`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "k8s"
sys.path.insert(0, str(K8S))

import k8s_manifests as km  # noqa: E402
from imgclf.cli import build_parser  # noqa: E402
from imgclf.config import JOB_ENTRYPOINTS  # noqa: E402

RAYJOBS = {"rayjob-train.yaml": "train", "rayjob-batch.yaml": "classify"}
PATH_OPTIONS = {"train": ("data", "registry", "output", "storage_path"), "classify": ("input", "registry", "output")}


@pytest.mark.parametrize("filename, command", RAYJOBS.items())
def test_the_entrypoint_runs_a_job_script_of_the_repository(filename: str, command: str) -> None:
    script, _ = km.rayjob_command(K8S / filename)
    assert script == JOB_ENTRYPOINTS[command]
    assert (REPO / script).is_file()
    done = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"usage: imgclf {command}" in done.stdout


@pytest.mark.parametrize("filename, command", RAYJOBS.items())
def test_the_arguments_parse_with_the_imgclf_cli(filename: str, command: str) -> None:
    _, arguments = km.rayjob_command(K8S / filename)
    parsed = build_parser().parse_args([command, *arguments])
    assert parsed.command == command
    for option in PATH_OPTIONS[command]:  # everything lives on the shared volume (`--data` may be repeated)
        values = getattr(parsed, option)
        for value in values if isinstance(values, list) else [values]:
            assert str(value).startswith(km.DATA_MOUNT + "/"), option
    assert parsed.registry == km.DATA_LAYOUT["registry"]


def test_train_batch_and_serving_agree_on_the_model_and_its_registry() -> None:
    _, train_args = km.rayjob_command(K8S / "rayjob-train.yaml")
    _, batch_args = km.rayjob_command(K8S / "rayjob-batch.yaml")
    train = build_parser().parse_args(["train", *train_args])
    batch = build_parser().parse_args(["classify", *batch_args])
    serving = yaml.safe_load(km.load_one(K8S / "rayservice.yaml", "RayService")["spec"]["serveConfigV2"])
    classifier = next(d for d in serving["applications"][0]["deployments"] if d["name"] == "Classifier")
    assert f"{train.name}-vgg16" == batch.model == classifier["user_config"]["model"]
    assert train.registry == batch.registry == classifier["user_config"]["registry"]
    assert [str(root) for root in train.data] == [batch.input] == [serving["applications"][0]["args"]["examples_dir"]]
    assert batch.resume  # a retry (backoffLimit) continues the output instead of refusing it


@pytest.mark.parametrize("filename", RAYJOBS)
def test_the_rayjob_runs_once_in_the_images_working_folder(filename: str) -> None:
    spec = km.load_one(K8S / filename, "RayJob")["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["submissionMode"] == "K8sJobMode"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    # The code is in the image: no upload. No env_vars: Ray refuses to merge a job's env_vars with those
    # imgclf's ray.init sets (imgclf.cluster.WORKER_ENV); the pods' env carries them instead.
    assert runtime_env == {"working_dir": f"local://{km.APP_DIR}"}


def test_rebased_arguments_are_the_same_run_on_a_local_folder(tmp_path: Path) -> None:
    _, arguments = km.rayjob_command(K8S / "rayjob-train.yaml")
    local = km.rebase_paths(arguments, tmp_path)
    assert not any(word.startswith(km.DATA_MOUNT) for word in local)
    parsed = build_parser().parse_args(["train", *local])
    assert parsed.data == [tmp_path / "digits"] and parsed.registry == str(tmp_path / "registry")
    assert [w for w in local if not w.startswith(str(tmp_path))] == [
        w for w in arguments if not w.startswith(km.DATA_MOUNT)]
