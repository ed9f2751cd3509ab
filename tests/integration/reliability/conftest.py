"""The reliability suite's scoreboard: each scenario records one row; the session prints the table and writes JSON.

`make reliability` runs the scenarios at full size (IMGCLF_RELIABILITY=full); `make test` runs them small.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

RESULTS = Path(os.environ.get("IMGCLF_RELIABILITY_RESULTS", ".reliability/results.json"))
FULL = os.environ.get("IMGCLF_RELIABILITY", "small") == "full"
COLUMNS = ("scenario", "load", "faults", "bad_inputs", "answered", "rows", "failures", "verdict")


@dataclass(frozen=True)
class Scale:
    """How big each scenario runs: full for `make reliability`, small inside `make test`."""

    load_seconds: float = 60.0 if FULL else 10.0
    clients: int = 32 if FULL else 8
    batch_files: int = 400 if FULL else 60


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    load: str  # e.g. "60 s, 32 clients"
    faults: str  # what was injected, "-" for none
    bad_inputs: str  # what hostile input was tried, "-" for none
    answered: int | None = None  # requests answered (any status)
    sent: int | None = None  # requests sent
    rows_written: int | None = None
    rows_expected: int | None = None
    failures: int = 0  # lost requests, 5xx answers, lost or duplicated rows, ... (what the scenario promises none of)
    passed: bool = True
    details: str = ""  # the measured figures behind the row, one line

    def cells(self) -> dict[str, str]:
        answered = "-" if self.sent is None else f"{self.answered}/{self.sent}"
        rows = "-" if self.rows_expected is None else f"{self.rows_written}/{self.rows_expected}"
        return {"scenario": self.scenario, "load": self.load, "faults": self.faults, "bad_inputs": self.bad_inputs,
                "answered": answered, "rows": rows, "failures": str(self.failures),
                "verdict": "pass" if self.passed else "FAIL"}


class Scoreboard:
    def __init__(self) -> None:
        self.results: list[ScenarioResult] = []

    def record(self, result: ScenarioResult) -> None:
        self.results.append(result)

    def table(self) -> str:
        rows = [dict(zip(COLUMNS, COLUMNS)), *(r.cells() for r in self.results)]
        widths = {c: max(len(row[c]) for row in rows) for c in COLUMNS}
        lines = ["  ".join(row[c].ljust(widths[c]) for c in COLUMNS) for row in rows]
        return "\n".join([lines[0], "  ".join("-" * widths[c] for c in COLUMNS), *lines[1:]])


BOARD = Scoreboard()


@pytest.fixture(scope="session")
def scoreboard() -> Scoreboard:
    return BOARD


@pytest.fixture(scope="session")
def scale() -> Scale:
    return Scale()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001 - pytest hook signature
    if not BOARD.results:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"size": "full" if FULL else "small",
                                   "scenarios": [asdict(r) for r in BOARD.results]}, indent=2) + "\n")
    terminalreporter.write_sep("=", f"reliability ({'full' if FULL else 'small'} size)")
    terminalreporter.write_line(BOARD.table())
    for result in BOARD.results:
        if result.details:
            terminalreporter.write_line(f"- {result.scenario}: {result.details}")
    terminalreporter.write_line(f"written: {RESULTS}")
