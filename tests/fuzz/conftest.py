"""The fuzz's request counts, printed at the end of every run that fuzzed (CI too)."""

from __future__ import annotations

import pytest

from tests.fuzz.verdict import TALLIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLIES:
        return
    terminalreporter.write_sep("=", "schema fuzz")
    for tally in TALLIES:
        terminalreporter.write_line(tally.counts())
