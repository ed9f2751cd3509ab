"""The two-host mechanism that ran (a network namespace, or the one-host fallback), named in the terminal summary."""

from __future__ import annotations

import pytest

from utils.netns import MECHANISM_PROPERTY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A section with a line per mechanism that the reports of this session's two-host tests name."""
    reports = [report for reports in terminalreporter.stats.values() for report in reports]
    mechanisms = {value for report in reports for name, value in getattr(report, "user_properties", ())
                  if name == MECHANISM_PROPERTY}
    if mechanisms:
        terminalreporter.section("two-host cluster")
        for mechanism in sorted(mechanisms):
            terminalreporter.write_line(mechanism)
