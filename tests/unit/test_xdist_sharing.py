"""The engine tier runs on several xdist workers: a module whose tests share one fixture made
once per module or session (a swarm, an SSH engine) must run whole on one worker."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ONE_WORKER_MODULES

ROOT = Path(__file__).resolve().parents[2]
SHARED = re.compile(r"@pytest\.fixture\([^)]*scope=\"(module|session)\"")


def test_every_engine_module_with_a_shared_fixture_runs_on_one_worker() -> None:
    shared = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests" / "engine").glob("test_*.py")
        if SHARED.search(text := path.read_text(encoding="utf-8"))
        and "pytest.mark.alone" not in text  # runs after the parallel run, one at a time
    }
    assert shared == set(ONE_WORKER_MODULES)
