"""Reliability of the batch job, training and the registry under injected faults; one scoreboard row each.

1. A batch job on a two-node cluster whose worker node is SIGKILLed part-way: in the end one row per input
   file, none lost, none twice (the job either recovers by itself or is finished with `--resume`).
2. A Ray Train run whose worker fails once after the first epoch's checkpoint: a new worker resumes from that
   checkpoint (it says so, and its first epoch starts from the checkpoint's weights) and the run registers a model.
3. `Registry.register` SIGKILLed while copying a model: nothing half-written is ever visible.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import psutil
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml

from imgclf.local_cluster import HeadNode, running_head, start_worker
from imgclf.registry import LATEST, Registry
from utils.cli import run_cli
from utils.datasets import write_digits_subset
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.images import truncated
from utils.netns import TwoHosts, two_hosts
from utils.ray_head import venv_env
from utils.train_worker import KillTrainWorker, checkpoint_state, registered_epochs, resume_checks

from conftest import ScenarioResult  # this folder's: pytest imports a folder's conftest just before its modules

pytestmark = pytest.mark.slow
NODE_CPUS = 2
BAD_FILES = {"bad/empty.png": b"", "bad/notes.jpg": b"meeting notes, not a photo\n"}  # + bad/truncated.png
JOB_TIMEOUT_S = 600.0  # one classify run, start to finish
RECOVERY_WAIT_S = 120.0  # after the kill: how long the job may take before a fresh worker node is started


# --- 1. batch job, worker node killed -----------------------------------------------------------------------


def node_processes(temp_dir: Path) -> list[psutil.Process]:
    """The processes of the node started with `temp_dir` (their command line names it) and their descendants:
    Ray's worker processes rename themselves `ray::...`, so they are found as children of the raylet."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(temp_dir) in " ".join(process.info["cmdline"] or []):
                found[process.pid] = process
                found.update((child.pid, child) for child in process.children(recursive=True))
    found.pop(os.getpid(), None)
    return list(found.values())


def kill_node(temp_dir: Path) -> int:
    """SIGKILL every process of one node; return how many there were."""
    processes = node_processes(temp_dir)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=10)
    return len(processes)


def alive_nodes(head: HeadNode) -> int:
    from ray.util.state import list_nodes

    return sum(node.state == "ALIVE" for node in list_nodes(address=head.dashboard_url))


def wait_for_nodes(head: HeadNode, count: int, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the state API may not answer while a node joins
            if alive_nodes(head) == count:
                return
        time.sleep(1)
    raise TimeoutError(f"the cluster at {head.address} did not reach {count} alive nodes in {timeout_s:.0f} s")


@contextlib.contextmanager
def two_node_cluster() -> Iterator[tuple[HeadNode, TwoHosts | None, list[Path]]]:
    """(head, hosts, worker temp folders): a head here and one worker node of NODE_CPUS CPUs each, the worker
    in another network namespace when permitted (hosts is None otherwise: a second raylet on this host)."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    workers: list[Path] = []
    with two_hosts() as hosts:
        host = hosts.head_ip if hosts else "127.0.0.1"
        try:
            with running_head(num_cpus=NODE_CPUS, host=host, env=venv_env()) as head:
                workers.append(add_worker(head, hosts))
                wait_for_nodes(head, 2)
                yield head, hosts, workers
        finally:
            for folder in workers:
                kill_node(folder)
                shutil.rmtree(folder, ignore_errors=True)


def add_worker(head: HeadNode, hosts: TwoHosts | None) -> Path:
    if hosts:
        return start_worker(head, num_cpus=NODE_CPUS, node_ip=hosts.worker_ip, command_prefix=hosts.worker_prefix,
                            env=venv_env())
    return start_worker(head, num_cpus=NODE_CPUS, env=venv_env())


def batch_inputs(digits_dir: Path, root: Path, count: int) -> list[str]:
    """`count` files: digit PNGs copied under unique names into a few folders, and three bad files."""
    sources = sorted(digits_dir.rglob("*.png"))
    for relative, data in BAD_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / "bad/truncated.png").write_bytes(truncated(sources[0].read_bytes()))
    for index in range(count - len(BAD_FILES) - 1):
        source = sources[index % len(sources)]
        target = root / f"part-{index % 3}" / f"img-{index:05d}-{source.parent.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    return sorted(str(path) for path in root.rglob("*") if path.is_file())


def classify_command(head: HeadNode, trained_run: TrainedRun, inputs: Path, output: Path, batch_size: int,
                     *extra: str) -> list[str]:
    return [sys.executable, "-m", "imgclf.cli", "classify", str(inputs), "--address", head.address,
            "--concurrency", "2", "--cpus-per-actor", "1.5", "--batch-size", str(batch_size),
            "--rows-per-file", str(2 * batch_size), "--model", VGG_MODEL, "--registry", str(trained_run.registry),
            "--output", str(output), *extra]


def model_actor_on_worker_node(head: HeadNode) -> bool:
    """Whether a batch model actor has loaded its model (is ALIVE) on a node other than the head."""
    from ray.util.state import list_actors, list_nodes

    with contextlib.suppress(Exception):  # the state API may time out under load: try again
        nodes = list_nodes(address=head.dashboard_url)
        workers = {n.node_id for n in nodes if not n.is_head_node and n.state == "ALIVE"}
        actors = list_actors(address=head.dashboard_url, filters=[("state", "=", "ALIVE")], limit=1000)
        return any("BatchPredictor" in (a.class_name or "") and a.node_id in workers for a in actors)
    return False


def rows_in(output: Path) -> tuple[int, int]:
    """(rows, files) of the complete Parquet files written so far; a file still being written is left out."""
    rows = files = 0
    for path in output.glob("*.parquet"):
        with contextlib.suppress(Exception):  # no footer yet
            rows += pq.read_metadata(path).num_rows
            files += 1
    return rows, files


def start_driver(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(command, env=venv_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(driver: subprocess.Popen, timeout_s: float) -> int | None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        return driver.wait(timeout=timeout_s)
    return None


def stop_driver(driver: subprocess.Popen) -> None:
    if driver.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def test_batch_job_survives_a_killed_worker_node(trained_run: TrainedRun, digits_dir: Path, scale, scoreboard,
                                                 tmp_path: Path) -> None:
    inputs, output = tmp_path / "inputs", tmp_path / "out"
    expected = batch_inputs(digits_dir, inputs, scale.batch_files)
    bad = {str(inputs / relative) for relative in [*BAD_FILES, "bad/truncated.png"]}
    # Input blocks hold 4 batches: small batches make enough blocks (and Parquet files) at the small size that
    # most of the job is still to do when the first file lands.
    batch_size = 8 if scale.batch_files >= 200 else 2
    started = time.monotonic()
    events: list[str] = []
    logs: list[Path] = []
    rows: list[dict] = []
    killed_mid_job, crash, where = False, None, "?"
    try:
        with two_node_cluster() as (head, hosts, workers):
            where = f"netns {hosts.namespace}" if hosts else "2nd raylet on this host (no netns)"
            logs.append(tmp_path / "classify-1.log")
            driver = start_driver(classify_command(head, trained_run, inputs, output, batch_size), logs[-1])
            launched = time.monotonic()

            def elapsed() -> str:
                return f"t+{time.monotonic() - launched:.0f} s"

            try:
                # Armed once the worker node's model actor has loaded its model, so the kill takes out a working
                # actor (with batches in flight), not one still starting; fired when the first complete Parquet
                # file is there. Ray Data writes each file under its final name (no temporary name, no rename), so
                # a file counts once it reads back (its footer written last), not when its name appears.
                deadline = time.monotonic() + JOB_TIMEOUT_S
                while driver.poll() is None and time.monotonic() < deadline and not model_actor_on_worker_node(head):
                    time.sleep(0.5)
                rows_at_kill, files_at_kill = rows_in(output)
                while not files_at_kill and driver.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                    rows_at_kill, files_at_kill = rows_in(output)
                running_at_kill = driver.poll() is None
                killed = kill_node(workers[0])
                killed_mid_job = running_at_kill and files_at_kill > 0 and rows_at_kill < len(expected)
                events.append(f"{elapsed()}: killed {killed} worker node processes with {rows_at_kill} rows in "
                              f"{files_at_kill} complete Parquet files")
                if wait_for(driver, RECOVERY_WAIT_S) is None:
                    # Waiting for a model actor that no longer fits on the head: a replacement node lets it restart.
                    workers.append(add_worker(head, hosts))
                    events.append(f"{elapsed()}: still running, fresh worker node started")
                    if wait_for(driver, JOB_TIMEOUT_S) is None:
                        stop_driver(driver)
                        events.append(f"{elapsed()}: job stopped after the timeout")
                events.append(f"{elapsed()}: first run exited {driver.returncode}")
            finally:
                stop_driver(driver)
            if driver.returncode != 0:
                if len(workers) == 1:  # --concurrency 2 needs a second node for its second actor
                    workers.append(add_worker(head, hosts))
                    wait_for_nodes(head, 2)
                logs.append(tmp_path / "classify-2.log")
                resumed = start_driver(classify_command(head, trained_run, inputs, output, batch_size, "--resume"),
                                       logs[-1])
                try:
                    wait_for(resumed, JOB_TIMEOUT_S)
                finally:
                    stop_driver(resumed)
                events.append(f"{elapsed()}: --resume exited {resumed.returncode}")
    except Exception as exc:  # noqa: BLE001 - recorded in the table first, raised below
        crash = exc
        events.append(f"error: {exc!r}")
    if output.is_dir() and list(output.glob("*.parquet")):
        try:
            rows = pads.dataset(output, format="parquet").to_table(columns=["path", "error"]).to_pylist()
        except Exception as exc:  # noqa: BLE001 - e.g. a Parquet file cut off by the kill
            events.append(f"output unreadable: {exc}")
    wall = time.monotonic() - started
    counts = Counter(row["path"] for row in rows)
    missing = sorted(set(expected) - set(counts))
    duplicated = sorted(path for path, seen in counts.items() if seen > 1)
    unexpected = sorted(set(counts) - set(expected))
    error_rows = {row["path"] for row in rows if row["error"]}
    details = f"{len(rows)} rows, {len(error_rows)} error rows; " + "; ".join(events)
    print(f"\nbatch / worker node killed ({where}, {wall:.0f} s): {details}")
    failures = len(missing) + sum(counts[path] - 1 for path in duplicated) + len(unexpected)
    recovery = "".join([" + fresh node" if any("fresh worker node" in e for e in events) else "",
                        " + --resume" if len(logs) > 1 else ""])
    scoreboard.record(
        ScenarioResult(
            scenario="batch: worker node killed",
            load=f"{len(expected)} files, 2 nodes, batch {batch_size}, {wall:.0f} s",
            faults=f"SIGKILL worker node mid-job ({where}){recovery}",
            bad_inputs=f"{len(bad)} undecodable files", rows_written=len(rows), rows_expected=len(expected),
            failures=failures, passed=failures == 0 and error_rows == bad and killed_mid_job and crash is None,
            details=details,
        )
    )
    context = "; ".join(events) + "\n" + "\n".join(f"--- {log.name}\n{tail(log)}" for log in logs)
    if crash is not None:
        raise crash
    assert killed_mid_job, f"the job ended before a complete Parquet file landed or before the kill:\n{context}"
    assert not missing and not duplicated and not unexpected, (
        f"missing {missing[:5]}, duplicated {duplicated[:5]}, unexpected {unexpected[:5]}\n{context}")
    assert sorted(counts.elements()) == expected
    assert error_rows == bad, f"error rows {sorted(error_rows)}; expected {sorted(bad)}"


# --- 2. training, a Ray Train worker is killed -------------------------------------------------------------

KILL_AFTER_EPOCH = 1  # SIGKILL once epoch 1's checkpoint is registered: the run must resume from it
TRAIN_EPOCHS = 3
TRAIN_IMAGE_SIZE = 64  # large enough that the epochs after the kill outlast Ray Train's registration (≤ 2 s)


def test_training_resumes_after_a_killed_worker(scoreboard, tmp_path: Path, ray_cluster) -> None:
    """A real crash: the Ray Train worker process gets SIGKILL mid-run; FailureConfig.max_failures restarts the
    worker group from the last registered checkpoint."""
    data = write_digits_subset(tmp_path / "digits", per_class=6)
    config = tmp_path / "settings.yaml"
    storage, registry = tmp_path / "ckpt", tmp_path / "registry"
    config.write_text(yaml.safe_dump({"cache_dir": str(tmp_path / "cache"), "cluster": {"storage_path": str(storage)}}))
    started = time.monotonic()
    with KillTrainWorker(storage, after_epoch=KILL_AFTER_EPOCH) as killer:
        result = run_cli(["train", "--data", data, "--config", config, "--models", "vgg16", "--image-size",
                          str(TRAIN_IMAGE_SIZE), "--epochs", str(TRAIN_EPOCHS), "--workers", "1",
                          "--registry", registry, "--output", tmp_path / "runs", "--name", "tiny"])
    wall = time.monotonic() - started
    kill = killer.kill
    resumed_from = max(kill.epochs_registered or [TRAIN_EPOCHS])
    reg = Registry(registry)
    versions = reg.list_versions("tiny-vgg16") if result.exit_code == 0 else []
    history = json.loads((registry / "tiny-vgg16" / "1" / "metrics.json").read_text())["history"] if versions else {}
    epochs = registered_epochs(storage)
    final = checkpoint_state(storage, TRAIN_EPOCHS)["history"] if TRAIN_EPOCHS in epochs else {}
    before_kill = checkpoint_state(storage, resumed_from)["history"] if resumed_from in epochs else {}
    checks = {
        "exit 0": result.exit_code == 0,
        "worker killed mid-run": kill.failure is None and resumed_from < TRAIN_EPOCHS,
        "one checkpoint per epoch": epochs == list(range(1, TRAIN_EPOCHS + 1)),
        "epochs before the kill not trained again": bool(final)
        and final["loss"][:resumed_from] == before_kill.get("loss"),
        "registered as version 1, latest": versions == ["1"] and reg.aliases("tiny-vgg16").get(LATEST) == "1",
        "full history": all(len(history.get(key, [])) == TRAIN_EPOCHS for key in ("loss", "val_loss")),
        **resume_checks(storage, kill, result.stderr, TRAIN_EPOCHS),
    }
    failed = [name for name, ok in checks.items() if not ok]
    details = ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks.items())
    print(f"\ntraining / worker killed ({wall:.0f} s): {details}")
    scoreboard.record(ScenarioResult(
        scenario="training: worker killed", load=f"60 images, {TRAIN_EPOCHS} epochs, 1 worker, {wall:.0f} s",
        faults=f"SIGKILL of the Train worker after epoch {KILL_AFTER_EPOCH}'s checkpoint", bad_inputs="-",
        failures=0 if not failed else 1, passed=not failed, details=details,
    ))
    assert not failed, f"{failed}; kill: {kill}\nstderr:\n{result.stderr[-3000:]}"


# --- 3. registry, register killed mid-copy ------------------------------------------------------------------

MODEL = "reliability-model"
BIG_FILE_MB = 64
# A register in a child process whose copy is throttled (1 MiB per 50 ms) so a kill lands mid-copy for sure:
# the registry's own code does everything else.
REGISTER_CHILD = """
import shutil, sys, time
from imgclf.registry import Registry

def throttled_copy(source, target, length=1 << 20):
    while chunk := source.read(length):
        target.write(chunk)
        time.sleep(0.05)

shutil.copyfileobj = throttled_copy
print(Registry(sys.argv[1]).register(sys.argv[2], sys.argv[3]), flush=True)
"""


def registry_view(registry: Registry) -> dict:
    """Everything a reader of the registry can see of MODEL."""
    return {"models": registry.list_models(), "versions": registry.list_versions(MODEL),
            "aliases": registry.aliases(MODEL), "latest": registry.resolve(MODEL),
            "latest files": sorted(path.name for path in registry.local_path(MODEL).iterdir())}


def test_registry_killed_during_register_shows_nothing_half_written(scoreboard, tmp_path: Path) -> None:
    root = tmp_path / "registry"
    registry = Registry(root)
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    (small / "model.json").write_text('{"version": "first"}')
    assert registry.register(MODEL, small) == "1"
    big.mkdir()
    (big / "model.json").write_text('{"version": "big"}')
    with (big / "weights.bin").open("wb") as out:
        for _ in range(BIG_FILE_MB):
            out.write(os.urandom(1 << 20))
    before = registry_view(registry)
    started = time.monotonic()
    try:
        child = subprocess.Popen([sys.executable, "-c", REGISTER_CHILD, str(root), MODEL, str(big)], env=venv_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        staged: list[Path] = []
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            staged = list((root / MODEL).rglob("weights.bin"))  # wherever the registry stages it
            if staged and staged[0].stat().st_size >= 4 << 20:
                break
            time.sleep(0.02)
        staged_bytes = staged[0].stat().st_size if staged else 0
        mid_copy = child.poll() is None and 0 < staged_bytes < BIG_FILE_MB << 20
        child.kill()
        log = child.communicate(timeout=30)[0].decode(errors="replace")
        after_kill = registry_view(registry)
        leftovers = sorted(p.name for p in (root / MODEL).glob(".staging-*"))
        again = registry.register(MODEL, small)  # also deletes the killed register's staging folder
        after_register = registry_view(registry)
        left_after = sorted(p.name for p in (root / MODEL).glob(".staging-*"))
        listed = run_cli(["models", "list", "--registry", root])
    finally:
        shutil.rmtree(big, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    wall = time.monotonic() - started
    # Versions that appeared, plus a `latest` (or any alias) moved by the killed register.
    new_versions = set(after_kill["versions"]) - set(before["versions"])
    half_written = len(new_versions) + int(after_kill["aliases"] != before["aliases"])
    details = (f"{staged_bytes >> 20} MiB of {BIG_FILE_MB} staged at the kill; versions and aliases unchanged: "
               f"{'yes' if after_kill == before else 'NO'}; staging folders left {len(leftovers)}, after the next "
               f"register {len(left_after)}; next register got version {again}")
    print(f"\nregistry / register killed ({wall:.1f} s): {details}")
    ok = (mid_copy and half_written == 0 and again == "2" and after_register["latest"] == (MODEL, "2")
          and after_register["versions"] == ["1", "2"] and ".staging" not in listed.stdout and not left_after)
    scoreboard.record(ScenarioResult(
        scenario="registry: register killed", load=f"{BIG_FILE_MB} MiB model, {wall:.1f} s",
        faults="SIGKILL during register (mid-copy)", bad_inputs="-", failures=half_written, passed=ok, details=details,
    ))
    assert mid_copy, f"the kill did not land mid-copy ({staged_bytes} bytes staged):\n{log}"
    assert after_kill == before, f"visible after the kill: {after_kill}; before: {before}"
    assert again == "2" and after_register["versions"] == ["1", "2"] and after_register["latest"] == (MODEL, "2")
    assert listed.exit_code == 0 and ".staging" not in listed.stdout, listed.stdout
    assert len(leftovers) == 1 and not left_after, (leftovers, left_after)
