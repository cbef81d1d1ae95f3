"""The whole run: how xdist shares the tests out, the measurements file every worker appends
to, and its summary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

MEASURED = "ZDD_MEASUREMENTS_FILE"  # the engine tier's measured lines (tests/engine: note)

# Modules whose tests share one module- or session-scoped fixture that must exist once: one
# SSH engine. Under `--dist loadscope` each runs whole on one worker; every other
# test is a unit of its own (test_xdist_sharing checks this list against the fixtures).
ONE_WORKER_MODULES = ("tests/engine/test_remote.py",)  # test_swarm.py runs `alone`, later


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadscope`, refined: xdist's own scopes put a whole module on one worker, so the
    46 tests of test_single.py ran one after another on one worker for the whole of a 42-minute
    CI run while the others idled; and its `xdist_group` marks do not group under pytest 9 +
    xdist 3.8. Here a test is a unit of its own unless its module is in ONE_WORKER_MODULES."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return Scheduling(config, log)


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
