"""Crash a Ray Train run for real: SIGKILL its worker process once Ray Train has registered a given epoch's
checkpoint, and read back what Ray Train recorded."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import ray

from imgclf.training.distributed import STATE_FILE

SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"  # Ray Train's record of the checkpoints it registered
WORKER_CLASS = "RayTrainWorker"


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


@dataclass
class Kill:
    """What the killer saw: the worker it killed and the checkpoints Ray Train had registered at that moment."""

    pid: int | None = None
    epochs_registered: list[int] | None = None
    failure: str | None = None


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
