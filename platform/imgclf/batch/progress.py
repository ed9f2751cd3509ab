"""Live counts of a running batch job, kept by one small actor that every model actor reports to."""

from __future__ import annotations

import ray


@ray.remote(num_cpus=0)
class ProgressCounter:
    """Files classified and failed so far, summed over the job's model actors (before the rows are written)."""

    def __init__(self) -> None:
        self.files = 0
        self.failed = 0

    def add(self, files: int, failed: int) -> None:
        self.files += files
        self.failed += failed

    def totals(self) -> tuple[int, int]:
        return self.files, self.failed
