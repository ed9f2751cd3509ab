"""Crash a Ray Train run for real: SIGKILL its worker process once Ray Train has registered a given epoch's
checkpoint, and read back what Ray Train and the workers recorded."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray

from imgclf.training.distributed import STATE_FILE, WEIGHTS_FILE, WORKER_RECORD

SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"  # Ray Train's record of the checkpoints it registered
WORKER_CLASS = "RayTrainWorker"
# A worker's resume line as Ray forwards it to the driver's console, prefixed with the worker's pid (and colour codes).
RESUME_LINE = re.compile(rf"\({WORKER_CLASS} pid=(\d+)[^)]*\)\S* resuming from checkpoint (\S+) of epoch (\d+), "
                         r"training on from epoch (\d+)$", re.MULTILINE)


def train_worker_pids() -> list[int]:
    """PIDs of the live Ray Train workers, from the actor table Ray keeps in its GCS (no dashboard needed)."""
    actors = ray._private.state.actors(actor_state_name="ALIVE")
    return sorted(actor["Pid"] for actor in actors.values() if actor["ActorClassName"] == WORKER_CLASS)


def registered_epochs(storage: Path) -> list[int]:
    """The epochs whose checkpoints Ray Train registered (in the snapshot it writes after each one), in order."""
    snapshots = list(storage.glob(f"*/{SNAPSHOT_FILE}"))
    if not snapshots:
        return []
    try:
        snapshot = json.loads(snapshots[0].read_text())
    except json.JSONDecodeError:  # being rewritten right now
        return []
    return sorted(int(result["metrics"]["epoch"]) for result in snapshot["checkpoint_results"])


def checkpoint_folder(storage: Path, epoch: int) -> Path:
    """The folder of the registered checkpoint of `epoch` (state.json: epochs done, history; weights.npz)."""
    snapshot = json.loads(next(storage.glob(f"*/{SNAPSHOT_FILE}")).read_text())
    names = [result["checkpoint_dir_name"] for result in snapshot["checkpoint_results"]
             if int(result["metrics"]["epoch"]) == epoch]
    assert len(names) == 1, f"epoch {epoch} has {len(names)} registered checkpoints: {names}"
    return next(storage.glob(f"*/{names[0]}"))


def checkpoint_state(storage: Path, epoch: int) -> dict:
    """The state.json (epochs done, history) of the registered checkpoint of `epoch`."""
    return json.loads((checkpoint_folder(storage, epoch) / STATE_FILE).read_text())


def worker_records(storage: Path, epoch: int) -> list[dict]:
    """Every worker's record of `epoch` (pid, rank, the weights it started from, its trainable layers), by rank."""
    paths = checkpoint_folder(storage, epoch).glob(WORKER_RECORD.format(rank="*"))
    return sorted((json.loads(path.read_text()) for path in paths), key=lambda record: record["rank"])


def npz_sha256(path: Path) -> str:
    """SHA-256 of a weights file's arrays in order, computed here from the file itself."""
    digest = hashlib.sha256()
    with np.load(path) as arrays:
        for index in range(len(arrays.files)):
            digest.update(np.ascontiguousarray(arrays[f"arr_{index}"]).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ResumeLine:
    """A worker's `resuming from checkpoint ...` line: the worker's pid and what the line names."""

    pid: int
    checkpoint: Path
    epochs_done: int
    next_epoch: int


def resume_lines(console: str) -> list[ResumeLine]:
    """The resume lines of Ray Train workers in what the driver printed."""
    return [ResumeLine(int(pid), Path(path), int(done), int(following))
            for pid, path, done, following in RESUME_LINE.findall(console)]


@dataclass
class Kill:
    """What the killer saw: the worker it killed and the checkpoints Ray Train had registered at that moment."""

    pid: int | None = None
    epochs_registered: list[int] | None = None
    failure: str | None = None


RESUME_CHECKS = ("a new worker process after the kill", "first epoch after the resume starts from the checkpoint's weights",
                 "resume logged by the new worker, naming the checkpoint")


def resume_checks(storage: Path, kill: Kill, console: str, epochs: int) -> dict[str, bool]:
    """What proves a one-worker run of `epochs` epochs restarted after `kill` and went on from the last registered
    checkpoint: a new worker process trained every later epoch, the first of them from exactly that checkpoint's
    weights, and that worker logged one resume line naming the checkpoint. Never raises, for a scoreboard."""
    checks = dict.fromkeys(RESUME_CHECKS, False)
    resumed_from = max(kill.epochs_registered or [epochs])
    if kill.pid is None or resumed_from >= epochs or registered_epochs(storage) != list(range(1, epochs + 1)):
        return checks
    restarted, same_weights, logged = RESUME_CHECKS
    saved = checkpoint_folder(storage, resumed_from)
    records = {epoch: worker_records(storage, epoch) for epoch in range(1, epochs + 1)}
    before = {record["pid"] for epoch in range(1, resumed_from + 1) for record in records[epoch]}
    after = {record["pid"] for epoch in range(resumed_from + 1, epochs + 1) for record in records[epoch]}
    checks[restarted] = before == {kill.pid} and len(after) == 1 and kill.pid not in after
    checks[same_weights] = [record["start_weights_sha256"] for record in records[resumed_from + 1]] == [
        npz_sha256(saved / WEIGHTS_FILE)]
    checks[logged] = [(line.pid, line.checkpoint.resolve(), line.epochs_done, line.next_epoch)
                      for line in resume_lines(console)] == [
        (pid, saved.resolve(), resumed_from, resumed_from + 1) for pid in after]
    return checks


class KillTrainWorker(threading.Thread):
    """Watches `storage` and SIGKILLs the Ray Train worker once the checkpoint of `after_epoch` is registered."""

    def __init__(self, storage: Path, after_epoch: int, deadline_s: float = 900.0) -> None:
        super().__init__(daemon=True)
        self.storage, self.after_epoch, self.deadline_s = storage, after_epoch, deadline_s
        self.kill = Kill()
        self.done = threading.Event()

    def run(self) -> None:
        deadline, epochs = time.monotonic() + self.deadline_s, []
        while not self.done.is_set() and time.monotonic() < deadline:
            epochs = registered_epochs(self.storage)
            if self.after_epoch in epochs:
                pids = train_worker_pids()
                if len(pids) != 1:
                    self.kill.failure = f"expected one live Ray Train worker; found {pids}"
                    return
                os.kill(pids[0], signal.SIGKILL)
                self.kill.pid, self.kill.epochs_registered = pids[0], epochs
                return
            time.sleep(0.05)
        ended = "the run ended" if self.done.is_set() else f"{self.deadline_s:.0f} s passed"
        self.kill.failure = f"{ended} before epoch {self.after_epoch}'s checkpoint was registered (registered: {epochs})"

    def __enter__(self) -> KillTrainWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()
