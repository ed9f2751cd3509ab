"""Training on a real head node: as a Ray job through the Jobs API (`ray job submit`, `imgclf train --address
http://`), and by the head's GCS address (`imgclf train --address HOST:PORT`)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient

from imgclf.cli import main
from imgclf.registry import Registry
from imgclf.submit import EXCLUDES, split_address
from utils.cli import run_cli
from utils.datasets import write_digits_subset
from utils.ray_head import RAY, VENV_BIN, HeadNode, free_port, ray_head, venv_env

REPO_ROOT = Path(__file__).resolve().parents[3]
JOB_TIMEOUT_S = 480
TINY = ["--features", "pixels", "--epochs", "1", "--image-size", "32", "--workers", "1"]


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    """A head node of our own (own temp folder and ports), 2 CPUs, dashboard on 127.0.0.1; stopped by pid after."""
    with ray_head("/tmp") as node:
        yield node


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 digits per class (60 images), 32×32: enough for a split and cross-validation, quick to train on."""
    return write_digits_subset(tmp_path_factory.mktemp("job-data") / "digits", per_class=6)


def train_options(data: Path, out: Path, name: str, models: str = "vgg16,knn") -> list[str]:
    """Absolute paths, so the job (running in its uploaded copy of the repository) writes where the test looks."""
    return ["--data", str(data), "--registry", str(out / "registry"), "--output", str(out / "runs"),
            "--storage-path", str(out / "ray_results"), "--name", name, "--models", models, *TINY]


@pytest.mark.slow
def test_ray_job_submit_runs_jobs_train(head: HeadNode, tiny_digits: Path, tmp_path: Path) -> None:
    """The job script under plain `ray job submit`; a KNN alone, as VGG16 in a job is the next test's."""
    runtime_env = json.dumps({"excludes": EXCLUDES})
    command = [
        str(RAY), "job", "submit", "--address", head.dashboard_url, "--working-dir", str(REPO_ROOT),
        "--runtime-env-json", runtime_env, "--", "python", "jobs/train.py",
        *train_options(tiny_digits, tmp_path, "plain", models="knn"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=venv_env(), timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    client = JobSubmissionClient(head.dashboard_url)
    job = next(job for job in client.list_jobs() if "--name plain " in job.entrypoint)
    assert job.status == JobStatus.SUCCEEDED
    assert client.get_job_logs(job.submission_id).count("| plain-knn-pixels |") == 1
    registry = Registry(tmp_path / "registry")
    assert registry.list_models() == ["plain-knn-pixels"]
    assert registry.list_versions("plain-knn-pixels") == ["1"]


@pytest.mark.slow
def test_imgclf_train_with_a_dashboard_address_submits_a_job(head: HeadNode, tiny_digits: Path, tmp_path: Path) -> None:
    command = [str(VENV_BIN / "imgclf"), "train", "--address", head.dashboard_url,
               *train_options(tiny_digits, tmp_path, "submitted")]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=venv_env(), timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    assert f"to {head.dashboard_url}" in done.stdout.splitlines()[0]
    assert done.stdout.startswith("submitted Ray job raysubmit_")
    for name in ("submitted-vgg16", "submitted-knn-pixels"):  # the comparison table, once: no log text twice
        assert done.stdout.count(f"| {name} |") == 1, done.stdout
    assert "epoch 1/1" in done.stdout
    registry = Registry(tmp_path / "registry")
    assert registry.list_versions("submitted-vgg16") == ["1"]
    assert registry.list_versions("submitted-knn-pixels") == ["1"]
    # The job ran the same options, minus --address (else it would have submitted itself again).
    job_id = done.stdout.split()[3]
    job = JobSubmissionClient(head.dashboard_url).get_job_info(job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.entrypoint.startswith("python jobs/train.py --data ") and "--address" not in job.entrypoint


@pytest.mark.slow
def test_imgclf_train_with_a_gcs_address_trains_on_that_head(head: HeadNode, tiny_digits: Path, tmp_path: Path) -> None:
    """The command is a driver of that head (a job of type DRIVER there) and starts no Ray of its own. A KNN alone,
    for time: the test above trains VGG16 on this head."""
    command = [str(VENV_BIN / "imgclf"), "train", "--address", head.address,
               *train_options(tiny_digits, tmp_path, "attached", models="knn")]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=venv_env(), timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    assert done.stdout.count("| attached-knn-pixels |") == 1, done.stdout
    assert "Started a local Ray instance" not in done.stdout + done.stderr
    assert driver_statuses(head, "--name attached ") == [JobStatus.SUCCEEDED]
    assert Registry(tmp_path / "registry").list_versions("attached-knn-pixels") == ["1"]


def driver_statuses(head: HeadNode, marker: str, timeout_s: float = 30) -> list[JobStatus]:
    """The statuses of the head's driver jobs whose command line holds `marker`, once none of them runs any more (the
    head learns of a driver's exit a moment after it), or as they are after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = [job.status for job in JobSubmissionClient(head.dashboard_url).list_jobs()
                    if job.type == "DRIVER" and marker in job.entrypoint]
        if JobStatus.RUNNING not in statuses or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("imgclf: error: ")
    return lines[0]


def test_submitting_needs_the_source_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(["train", "--address", "http://127.0.0.1:8265", "--data", "digits"])

    assert result.exit_code == 2
    assert "has no jobs/train.py: run from the imgclf source folder" in one_error_line(result.stderr)


@pytest.mark.parametrize(
    "argv",
    [
        ["--data", "d", "--address", "http://h:8265", "--epochs", "1"],
        ["--data", "d", "--address=http://h:8265", "--epochs", "1"],
        ["--address", "http://h:8265", "--data", "d", "--epochs", "1"],
    ],
)
def test_the_job_gets_every_option_but_the_address(argv: list[str]) -> None:
    assert split_address(argv) == ("http://h:8265", ["--data", "d", "--epochs", "1"])


def test_an_abbreviated_address_is_refused_not_passed_to_the_job(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--data", "d", "--addr", "http://h:8265"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --addr http://h:8265" in capsys.readouterr().err


def test_unreachable_dashboard_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    address = f"http://127.0.0.1:{free_port()}"
    result = run_cli(["train", "--address", address, *train_options(tmp_path / "data", tmp_path, "nowhere")])

    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert line.startswith(f"imgclf: error: cannot reach the Ray dashboard at {address}: ")
    assert "Connection refused" in line
    assert not (tmp_path / "registry").exists()


class TokenDashboard(BaseHTTPRequestHandler):
    """Stands in for a dashboard with token authentication: the version check answers, the rest is 401."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/api/version":
            self.reply(200, json.dumps({"ray_version": "2.60.0", "version": "4", "session_name": "x"}))
        else:
            self.reply(401, "Unauthorized: Missing authentication token")

    do_POST = do_PUT = do_GET

    def reply(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_dashboard_wanting_a_token_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenDashboard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = run_cli(["train", "--address", address, *train_options(tmp_path / "data", tmp_path, "locked")])
    finally:
        server.shutdown()
        server.server_close()

    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert line.startswith(f"imgclf: error: the Ray dashboard at {address} wants a token (")
    assert "RAY_AUTH_MODE=token" in line
