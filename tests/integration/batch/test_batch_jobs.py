"""Batch classification as a Ray job on a real head node: `ray job submit ... jobs/batch_classify.py` and
`imgclf jobs submit classify` / `jobs status` / `jobs logs`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq
import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from imgclf.submit import EXCLUDES, TERMINAL_STATUSES
from utils.datasets import write_digit_files_and_a_broken_one
from utils.digits_run import TrainedRun
from utils.ray_head import RAY, VENV_BIN, HeadNode, free_port, ray_head, venv_env

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]
IMGCLF = VENV_BIN / "imgclf"
MODEL = "digits-knn-pixels"  # the cheapest model of the trained run to load: no TensorFlow graph
GOOD_FILES = 5
CORRUPT = "broken.png"
JOB_TIMEOUT_S = 420
CLI_TIMEOUT_S = 120
POLL_S = 2.0


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    """A head node of our own (own temp folder and ports), 2 CPUs, dashboard on 127.0.0.1; stopped by pid after."""
    with ray_head("/tmp") as node:
        yield node


@pytest.fixture(scope="module")
def images(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GOOD_FILES digit PNGs (from different classes) and one PNG cut in half."""
    return write_digit_files_and_a_broken_one(tmp_path_factory.mktemp("job-images") / "images", digits_dir,
                                              good=GOOD_FILES, broken_name=CORRUPT)


def classify_options(images: Path, out: Path, trained_run: TrainedRun) -> list[str]:
    """Absolute paths: the job runs in its uploaded copy of the repository, where relative paths mean other folders."""
    registry = trained_run.registry.resolve()
    assert registry.is_absolute()
    return [str(images), "--model", MODEL, "--output", str(out), "--registry", str(registry), "--batch-size", "4"]


def check_output(out: Path, images: Path) -> None:
    """One row per input file; only the corrupt file's row has an error, and it has no label."""
    table = pq.read_table(out)
    rows = {row["path"]: row for row in table.to_pylist()}
    assert table.num_rows == GOOD_FILES + 1 == len(rows)
    assert set(rows) == {str(path) for path in images.iterdir()}
    broken = rows.pop(str(images / CORRUPT))
    assert broken["error"] and broken["label"] is None
    for row in rows.values():
        assert row["error"] is None, row
        assert row["label"] in [str(digit) for digit in range(10)]
        assert row["model"] == MODEL and row["model_version"] == "1"


def imgclf(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `imgclf` command of the venv, run from the repository root (the folder a job uploads)."""
    return subprocess.run([str(IMGCLF), *argv], cwd=REPO_ROOT, capture_output=True, text=True,
                          env=env or venv_env(), timeout=CLI_TIMEOUT_S)


def test_ray_job_submit_runs_batch_classify(head: HeadNode, images: Path, trained_run: TrainedRun,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        str(RAY), "job", "submit", "--address", head.dashboard_url, "--working-dir", str(REPO_ROOT),
        "--runtime-env-json", json.dumps({"excludes": EXCLUDES}),
        "--", "python", "jobs/batch_classify.py", *classify_options(images, out, trained_run),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=venv_env(),
                          timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    client = JobSubmissionClient(head.dashboard_url)
    job = next(job for job in client.list_jobs() if f"--output {out} " in job.entrypoint)
    assert job.status == JobStatus.SUCCEEDED
    assert f"classified {GOOD_FILES + 1} files: {GOOD_FILES} ok, 1 failed" in client.get_job_logs(job.submission_id)
    check_output(out, images)


def test_a_job_whose_output_is_outside_the_allowed_roots_fails_with_one_line(head: HeadNode, images: Path,
                                                                             trained_run: TrainedRun,
                                                                             tmp_path: Path) -> None:
    """The cluster's $IMGCLF_ALLOWED_ROOTS (here set for the job through its runtime env) refuses an output folder
    outside the roots before any work: the job FAILS, its log says why in one line, nothing is written."""
    out = tmp_path / "out"
    roots = f"{images}:{trained_run.registry.resolve()}"
    command = [
        str(RAY), "job", "submit", "--address", head.dashboard_url, "--working-dir", str(REPO_ROOT),
        "--runtime-env-json", json.dumps({"excludes": EXCLUDES, "env_vars": {"IMGCLF_ALLOWED_ROOTS": roots}}),
        "--", "python", "jobs/batch_classify.py", *classify_options(images, out, trained_run),
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=venv_env(),
                          timeout=JOB_TIMEOUT_S)
    assert done.returncode != 0, done.stdout[-4000:]

    client = JobSubmissionClient(head.dashboard_url)
    job = next(job for job in client.list_jobs() if f"--output {out} " in job.entrypoint)
    assert job.status == JobStatus.FAILED
    refusals = [line for line in client.get_job_logs(job.submission_id).splitlines() if "imgclf: error:" in line]
    assert refusals == [f"imgclf: error: output {out} is outside the allowed roots {images}, "
                        f"{trained_run.registry.resolve()} ($IMGCLF_ALLOWED_ROOTS)"], refusals
    assert not out.exists()


def test_imgclf_jobs_submit_status_and_logs(head: HeadNode, images: Path, trained_run: TrainedRun,
                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    # --address before the work here; the test below gives it after the work.
    submitted = imgclf("jobs", "submit", "--address", head.dashboard_url, "classify", "--",
                       *classify_options(images, out, trained_run))
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job_id = submitted.stdout.strip()
    assert job_id.startswith("raysubmit_") and len(submitted.stdout.splitlines()) == 1, submitted.stdout
    assert f"imgclf jobs status --address {head.dashboard_url} {job_id}" in submitted.stderr

    deadline, status = time.monotonic() + JOB_TIMEOUT_S, None
    while time.monotonic() < deadline:
        polled = imgclf("jobs", "status", "--address", head.dashboard_url, job_id)
        assert polled.returncode == 0, polled.stdout + polled.stderr
        status = polled.stdout.strip()
        assert status in {"PENDING", "RUNNING", *TERMINAL_STATUSES}, polled.stdout
        if status in TERMINAL_STATUSES:
            break
        time.sleep(POLL_S)
    logs = imgclf("jobs", "logs", "--address", head.dashboard_url, job_id)
    assert status == "SUCCEEDED", f"job {job_id} is {status}; logs:\n{logs.stdout[-4000:]}"

    assert logs.returncode == 0, logs.stderr
    assert f"classified {GOOD_FILES + 1} files: {GOOD_FILES} ok, 1 failed" in logs.stdout
    job = JobSubmissionClient(head.dashboard_url).get_job_info(job_id)
    assert job.entrypoint.startswith(f"python jobs/batch_classify.py {images} --model {MODEL} ")
    assert " -- " not in f" {job.entrypoint} "
    check_output(out, images)


def test_status_of_an_unknown_job_is_a_one_line_error(head: HeadNode) -> None:
    done = imgclf("jobs", "status", "--address", head.dashboard_url, "raysubmit_nosuchjob")

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"imgclf: error: the Ray dashboard at {head.dashboard_url} ")
    assert "raysubmit_nosuchjob" in lines[0]


def test_address_after_the_work_names_the_dashboard(head: HeadNode, images: Path, trained_run: TrainedRun,
                                                    tmp_path: Path) -> None:
    env = venv_env()
    env["RAY_ADDRESS"] = f"http://127.0.0.1:{free_port()}"  # the default dashboard: nothing there, never another's
    submitted = imgclf("jobs", "submit", "classify", "--address", head.dashboard_url, "--",
                       *classify_options(images, tmp_path / "out", trained_run), env=env)

    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    client = JobSubmissionClient(head.dashboard_url)
    client.stop_job(job_id)  # only the submission is under test here
    assert "--address" not in client.get_job_info(job_id).entrypoint
