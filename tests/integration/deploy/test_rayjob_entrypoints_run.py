"""The Kubernetes RayJobs' entrypoints, run here with their real arguments on a tiny dataset: the volume's `/data`
paths rebased onto a temporary folder, everything else exactly as in k8s/rayjob-*.yaml but the number of epochs
(the test checks that each entrypoint runs and hands over to the next, not what 15 epochs learn)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from utils.datasets import write_digits_subset
from utils.ray_head import venv_env
from utils.serve_app import REPO

sys.path.insert(0, str(REPO / "k8s"))
from k8s_manifests import rayjob_command, rebase_paths  # noqa: E402

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 1500
EPOCHS = ["--epochs", "1"]  # after the manifest's own --epochs, so it wins


def run_job(manifest: str, data_root: Path, address: str, *extra: str) -> subprocess.CompletedProcess:
    """The entrypoint as KubeRay runs it (then `extra`): on the cluster named by RAY_ADDRESS (here: the session's)."""
    script, arguments = rayjob_command(REPO / "k8s" / manifest)
    command = [sys.executable, script, *rebase_paths(arguments, data_root), *extra]
    env = {**venv_env(), "RAY_ADDRESS": address}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)


@pytest.mark.timeout(2 * JOB_TIMEOUT_S + 300)  # two jobs in a row, each with its own limit
def test_train_then_batch_rayjobs_run_with_their_real_arguments(tmp_path: Path, ray_cluster) -> None:
    address = ray_cluster.get_runtime_context().gcs_address
    digits = write_digits_subset(tmp_path / "digits", per_class=6)
    trained = run_job("rayjob-train.yaml", tmp_path, address, *EPOCHS)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert (tmp_path / "registry" / "digits-vgg16" / "1" / "model.json").is_file()

    classified = run_job("rayjob-batch.yaml", tmp_path, address)
    assert classified.returncode == 0, classified.stdout[-3000:] + classified.stderr[-3000:]
    files = [p for p in digits.rglob("*") if p.is_file()]
    assert f"classified {len(files)} files" in classified.stdout
    assert pads.dataset(tmp_path / "predictions", format="parquet").count_rows() == len(files)
