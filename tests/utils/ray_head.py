"""A real Ray head node (`ray start --head`) for tests, from imgclf.local_cluster, with the venv's tools on PATH.

`ray stop` stops every Ray cluster of the user on the machine, so the teardown instead terminates only the
processes of this head (by pid: their command line names its unique temp folder or GCS port).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from imgclf.local_cluster import HeadNode, free_port, running_head

VENV_BIN = Path(sys.executable).parent
RAY = VENV_BIN / "ray"
__all__ = ["RAY", "VENV_BIN", "HeadNode", "free_port", "ray_head", "venv_env"]


def venv_env() -> dict[str, str]:
    """This environment with the venv's bin folder first on PATH, so a job's `python` is the venv's.

    Token authentication off, explicitly: `ray start` turns it on whenever ~/.ray/auth_token exists (and
    `ray.init()` of a new local cluster writes one), and a client then needs RAY_AUTH_MODE=token too.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["RAY_AUTH_MODE"] = os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    env.pop("RAY_ADDRESS", None)
    return env


@contextlib.contextmanager
def ray_head(tmp_root: str | Path = "/tmp", *, num_cpus: int = 2) -> Iterator[HeadNode]:
    """A head node with its own temp folder and ports, Jobs API answering; stopped by pid after."""
    with running_head(temp_root=tmp_root, num_cpus=num_cpus, env=venv_env()) as head:
        yield head
