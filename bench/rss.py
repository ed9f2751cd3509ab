"""Peak memory of a process tree: this process and every descendant (Ray's GCS, raylet, workers, actors)."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

SAMPLE_INTERVAL_S = 0.2
MIB = 1 << 20


def tree_rss() -> int:
    """Summed RSS in bytes of this process and all its descendants (processes that end meanwhile skipped)."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class PeakTreeRss:
    """Context manager sampling `tree_rss` every SAMPLE_INTERVAL_S in a background thread; keeps the peak."""

    def __init__(self) -> None:
        self.before = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-peak-rss", daemon=True)

    def __enter__(self) -> PeakTreeRss:
        self.before = self.peak = tree_rss()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss())

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, tree_rss())
