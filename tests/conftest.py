"""The whole run: the measurements file every xdist worker appends to, and its summary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

MEASURED = "ZDD_MEASUREMENTS_FILE"  # the engine tier's measured lines (tests/engine: note)


def pytest_configure(config: pytest.Config) -> None:
    """Made once by the controller (or a run without xdist); xdist's workers inherit it."""
    if not hasattr(config, "workerinput"):
        handle, path = tempfile.mkstemp(prefix="zdd-measured-", suffix=".txt")
        os.close(handle)
        os.environ[MEASURED] = path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The measured lines, so that CI's log holds the figures the issue notes quote."""
    if hasattr(terminalreporter.config, "workerinput"):
        return
    path = Path(os.environ.get(MEASURED, "/nonexistent"))
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if lines:
        terminalreporter.section("zdd measurements (requests through the proxy during a deploy)")
        for line in lines:
            terminalreporter.write_line(line)
    path.unlink(missing_ok=True)
