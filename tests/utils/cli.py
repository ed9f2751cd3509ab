"""Run the `imgclf` command in-process and capture what it prints and logs."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, field
from typing import Sequence

from imgclf.cli import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    log: list[logging.LogRecord] = field(default_factory=list)

    def messages(self, level: int = logging.WARNING) -> list[str]:
        """Messages of the `imgclf` log records at `level` or above."""
        return [record.getMessage() for record in self.log if record.levelno >= level]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run_cli(argv: Sequence[str]) -> CliResult:
    """`imgclf.cli.main(argv)` with stdout/stderr captured and `imgclf` log records collected.

    For session-scoped fixtures, where pytest's function-scoped `capsys` and `caplog` are not available.
    """
    out, err, handler = io.StringIO(), io.StringIO(), _Collect()
    logger = logging.getLogger("imgclf")
    logger.addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(arg) for arg in argv])
    finally:
        logger.removeHandler(handler)
    return CliResult(code, out.getvalue(), err.getvalue(), handler.records)
