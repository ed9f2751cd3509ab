"""A bench section's Ray cluster runs its workers at the bench's own priority, and leaves the environment as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SECTION = textwrap.dedent("""
    import json, os
    import ray
    from bench.cluster import WORKER_NICENESS, section_cluster

    @ray.remote
    def niceness() -> int:
        return os.nice(0)

    with section_cluster():
        inside = ray.get(niceness.remote())
    print(json.dumps({"worker": inside, "driver": os.nice(0), "env": os.environ.get(WORKER_NICENESS),
                      "running": ray.is_initialized()}))
""")


@pytest.mark.slow
def test_workers_run_at_the_bench_priority_and_the_cluster_ends_with_the_section() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_worker_niceness")}
    done = subprocess.run([sys.executable, "-c", SECTION], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"worker": seen["driver"], "driver": seen["driver"], "env": None, "running": False}
    assert seen["worker"] < 15  # Ray's own default for its workers
