"""`imgclf classify` as a driver of its own on a test's Ray head, and what the head's workers wrote to stderr: Ray
keeps each worker's output (model actors' included) in a file of its own in the session's log folder."""

from __future__ import annotations

import subprocess
import sys

from imgclf.local_cluster import HeadNode
from utils.ray_head import venv_env

CLASSIFY_TIMEOUT_S = 600


def classify_on(head: HeadNode, *argv: object) -> subprocess.CompletedProcess[str]:
    """`imgclf classify ARGV --address HEAD` in a process of its own, so its actors run on the head's workers."""
    command = [sys.executable, "-m", "imgclf.cli", "classify", *map(str, argv), "--address", head.address]
    return subprocess.run(command, capture_output=True, text=True, env=venv_env(), timeout=CLASSIFY_TIMEOUT_S,
                          check=False)


def worker_stderr_lines(head: HeadNode, containing: str) -> list[str]:
    """The lines holding `containing` in the stderr files of every worker the head ran."""
    logs = head.temp_dir / "session_latest" / "logs"
    return [line for path in sorted(logs.glob("worker-*.err"))
            for line in path.read_text(errors="replace").splitlines() if containing in line]
