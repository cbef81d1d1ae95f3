"""The record of every deploy and rollback (zdd/history.py): what it holds, kept on the engine
(the last 20 per project), listed newest first, shown whole, and refused in one line when
there is no such record. The engine tier shows it through real deploys (test_faults.py)."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest

from zdd.errors import DeployError, UsageError
from zdd.events import Event
from zdd.history import KEEP, MAX_RECORD, Recorder, history_repo, listing, one, save
from zdd.output import history_lines

from .fakes import FakeClock, FakeEngine

START = 1_796_645_000.25  # 2026-12-07T...Z


def a_run(clock: FakeClock, error: BaseException | None, project: str = "shop") -> dict[str, Any]:
    """A deploy's record: a mode line, two steps 1.5 s apart, the summary; ended by `error`."""
    clock.now = START
    recorder = Recorder("deploy", ["deploy", "web"], clock=clock)
    recorder(Event("mode", "proxy: nginx (managed)", {"proxy": "nginx"}))
    clock.sleep(1.5)
    recorder(Event("step", "compose build", {"kind": "build", "seconds": 1.5}))
    clock.sleep(1.5)
    recorder(Event("summary", "deployed web", {"services": ["web"]}))
    return recorder.record(project, error)


@pytest.mark.parametrize(
    ("error", "result", "code", "line"),
    [
        (None, "ok", 0, ""),
        (
            DeployError("web did not become healthy"),
            "failed",
            1,
            "error: web did not become healthy",
        ),
        (KeyboardInterrupt(), "interrupted", 130, "interrupted"),
    ],
)
def test_a_record_holds_each_event_at_its_second_and_how_the_run_ended(
    error: BaseException | None, result: str, code: int, line: str
) -> None:
    record = a_run(FakeClock(), error)
    assert [(e["t"], e["event"], e["message"]) for e in record["events"]] == [
        (0.0, "mode", "proxy: nginx (managed)"),
        (1.5, "step", "compose build"),
        (3.0, "summary", "deployed web"),
    ]
    assert (record["result"], record["exit_code"], record["error"]) == (result, code, line)
    assert record["seconds"] == 3.0 and record["argv"] == ["deploy", "web"]
    assert record["id"] == "20261207T120320-250" and record["started"] == "2026-12-07T12:03:20Z"


def test_the_last_twenty_are_kept_on_the_engine_and_listed_newest_first() -> None:
    engine, clock = FakeEngine("shop"), FakeClock()
    ids = []
    for minute in range(KEEP + 2):
        record = a_run(clock, None if minute % 2 else DeployError("no"))
        record["id"] = f"20261207T12{minute:02d}00-000"
        ids.append(save(engine, record))
    kept = listing(engine, "shop")
    assert [r["id"] for r in kept] == [i.split(":")[1] for i in reversed(ids)][:KEEP]
    assert kept[0] | {"id": ""} == {"id": "", "project": "shop", "command": "deploy",
                                    "result": "ok", "exit_code": 0,
                                    "started": "2026-12-07T12:03:20Z", "seconds": 3.0}  # fmt: skip
    assert kept[1]["result"] == "failed" and kept[1]["exit_code"] == 1
    assert engine.writes() == []  # a record changes no stack: exact-argv tests are unchanged
    assert listing(engine, "other") == []


def test_one_record_is_shown_whole_and_a_missing_one_is_one_line() -> None:
    engine, clock = FakeEngine("shop"), FakeClock()
    record = a_run(clock, DeployError("web did not become healthy"))
    save(engine, record)
    assert one(engine, "shop", str(record["id"])) == record
    lines = [line.text for line in history_lines([record], whole=True, as_json=False)]
    assert lines[0] == "deploy of shop, 2026-12-07T12:03:20Z: zdd deploy web"
    assert lines[2] == "    1.50s  compose build"
    assert lines[-1] == "    3.00s  failed, exit 1, 3.0s: error: web did not become healthy"
    for asked in ("20261207T000000-000", "--help", "../../etc"):
        with pytest.raises(UsageError, match="no record") as refused:
            one(engine, "shop", asked)
        assert "\n" not in str(refused.value)


def test_any_project_name_makes_a_valid_repository() -> None:
    assert history_repo("my_app") == "zdd-history/my-app"
    assert history_repo("_app") == "zdd-history/app"
    assert history_repo("__") == "zdd-history/project"


@pytest.mark.parametrize(
    "comment",
    [
        "not base64 at all!",
        base64.b64encode(
            zlib.compress(b"0" * (MAX_RECORD + 1))
        ).decode(),  # inflates past the bound
        base64.b64encode(
            zlib.compress(b'{"events": [{"t": "soon"}], "traffic": [], "argv": []}')
        ).decode(),
    ],
)
def test_a_record_planted_by_someone_else_is_one_line(comment: str) -> None:
    """A record is an image anybody with the engine can make: zdd reads it within a bound
    and checks its shape, or refuses it in one line (never a traceback, never 16 MB more)."""
    engine = FakeEngine("shop")
    tag = "zdd-history/shop:20261207T120000-000"
    engine.records[tag] = {"Comment": comment, "RepoTags": [tag], "Config": {"Labels": {}}}
    with pytest.raises(UsageError, match="cannot be read"):
        one(engine, "shop", "20261207T120000-000")
