"""A record of every deploy and rollback: each event it reported (the mode line, every step with
its time, gates, warnings, the summary) at its second since the start, its result, exit code
and error. Kept on the engine, beside the release tags, so that whoever deploys next sees it
from any machine: each record is an empty image `zdd-history/PROJECT:ID` (`docker import`
of an empty archive) whose labels hold the summary and whose comment holds the whole record,
compressed; the last KEEP per project are kept. `--report FILE` writes it to a file too."""

from __future__ import annotations

import base64
import json
import re
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zdd.errors import ComposeCommandError, ExitCode, UsageError, ending
from zdd.probe import Report

if TYPE_CHECKING:
    from zdd.events import Event
    from zdd.ports import CommandRunner
    from zdd.probe import Sample

REPOSITORY = "zdd-history"
KEEP = 20  # records kept per project
LABEL = "io.zdd.history"  # the project, on every record
SUMMARY = ("command", "result", "exit_code", "started", "seconds")  # also kept as labels
EMPTY_ARCHIVE = "\0" * 1024  # a tar archive with no file: the image has no layer content
MAX_RECORD = 16 << 20  # bytes a record may inflate to
RECORD_ID = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9]{3}")  # UTC time and milliseconds: sortable


def history_repo(project: str) -> str:
    """The repository of the project's records (a valid docker name for any project name)."""
    return f"{REPOSITORY}/{re.sub(r'[^a-z0-9]+', '-', project).strip('-') or 'project'}"


def result_of(exit_code: int) -> str:
    """How a run ended, in a word."""
    return {0: "ok", int(ExitCode.INTERRUPTED): "interrupted"}.get(exit_code, "failed")


@dataclass
class Recorder:
    """Collects a run's events (a Reporter) and makes its record."""

    command: str
    argv: Sequence[str] = ()
    clock: Any = time.time
    monotonic: Any = time.monotonic  # the probe's clock
    started: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    traffic: list[dict[str, Any]] = field(default_factory=list)  # per second, from the probe

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()
        self.origin = self.monotonic()

    def probed(self, report: Report) -> None:
        """Keep what --verify's probe saw, second by second: requests, failed, p99."""
        seconds: dict[int, list[Sample]] = {}
        for sample in report.samples:
            seconds.setdefault(int(sample.started - self.origin), []).append(sample)
        self.traffic = [
            {"t": second, "requests": len(samples),
             "failed": sum(1 for s in samples if s.failure),
             "p99_ms": round(Report(samples).percentile_ms(0.99), 1)}
            for second, samples in sorted(seconds.items())
        ]  # fmt: skip

    def __call__(self, event: Event) -> None:
        """Keep `event`, at its second since the start."""
        at = round(self.clock() - self.started, 3)
        self.events.append({"t": at, "event": event.kind, "message": event.message,
                            **_plain(event.data)})  # fmt: skip

    def record(self, project: str, error: BaseException | None) -> dict[str, Any]:
        """The run's record, ended by `error` (None: it succeeded)."""
        code, message = ending(error)
        started = time.gmtime(self.started)
        return {
            "id": time.strftime("%Y%m%dT%H%M%S", started)
            + f"-{int(self.started * 1000) % 1000:03d}",
            "project": project,
            "command": self.command,
            "argv": list(self.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", started),
            "seconds": round(self.clock() - self.started, 2),
            "exit_code": code,
            "result": result_of(code),
            "error": message,
            "events": self.events,
            "traffic": self.traffic,  # empty: no probe ran (--verify)
        }


def _plain(data: Mapping[str, object]) -> dict[str, Any]:
    """An event's data as JSON can hold it."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(data), default=str))
    return plain


def save(runner: CommandRunner, record: Mapping[str, Any]) -> str:
    """Keep `record` on the engine, drop the project's records beyond KEEP; its tag."""
    repo = history_repo(str(record["project"]))
    tag = f"{repo}:{record['id']}"
    packed = base64.b64encode(zlib.compress(json.dumps(record).encode(), 9)).decode()
    labels = {LABEL: record["project"], **{f"io.zdd.{key}": record[key] for key in SUMMARY}}
    change = "LABEL " + " ".join(f"{key}={json.dumps(str(v))}" for key, v in labels.items())
    argv = ["docker", "import", "-m", packed, "--change", change, "-", tag]
    runner.run(argv, stdin=EMPTY_ARCHIVE, timeout=60)
    older = sorted(_tags(runner, repo), reverse=True)[KEEP:]
    if older:
        runner.run(["docker", "rmi", "--", *(f"{repo}:{old}" for old in older)], timeout=60)
    return tag


def _tags(runner: CommandRunner, repo: str) -> list[str]:
    output = runner.run(["docker", "image", "ls", "--format", "{{.Tag}}", "--", repo], timeout=30)
    return [tag for tag in output.split() if RECORD_ID.fullmatch(tag)]


def listing(runner: CommandRunner, project: str) -> list[dict[str, Any]]:
    """The project's records, newest first: each one's summary (no events)."""
    repo = history_repo(project)
    tags = sorted(_tags(runner, repo), reverse=True)
    if not tags:
        return []
    images = json.loads(
        runner.run(["docker", "image", "inspect", "--", *(f"{repo}:{t}" for t in tags)])
    )
    found = []
    for image in images:
        labels = (image.get("Config") or {}).get("Labels") or {}
        named = [
            t.split(":", 1)[1] for t in image.get("RepoTags") or () if t.startswith(f"{repo}:")
        ]
        if labels.get(LABEL) != project or not named:
            continue  # another project whose name maps to the same repository
        summary = {key: labels.get(f"io.zdd.{key}", "") for key in SUMMARY}
        summary["exit_code"] = int(summary["exit_code"] or 0)
        summary["seconds"] = float(summary["seconds"] or 0)
        found.append({"id": max(named), "project": project, **summary})
    return sorted(found, key=lambda record: str(record["id"]), reverse=True)


def one(runner: CommandRunner, project: str, record_id: str) -> dict[str, Any]:
    """The whole record `record_id` of the project (exit 2 when there is none)."""
    if not RECORD_ID.fullmatch(record_id):
        raise UsageError(f"no record {record_id!r}: an ID looks like 20261207T121500-123 "
                         "(`zdd history` lists them)")  # fmt: skip
    tag = f"{history_repo(project)}:{record_id}"
    try:
        output = runner.run(["docker", "image", "inspect", "--", tag], timeout=30)
    except ComposeCommandError as err:
        if "no such image" not in err.stderr.lower():
            raise
        raise UsageError(f"no record {record_id} of {project} (`zdd history` lists them)") from None
    try:  # a record is anybody's image: inflated within a bound, its shape checked
        inflate = zlib.decompressobj()
        text = inflate.decompress(base64.b64decode(json.loads(output)[0]["Comment"]), MAX_RECORD)
        if inflate.unconsumed_tail:
            raise ValueError("too large")
        record: dict[str, Any] = json.loads(text)
        _check(record)
    except (KeyError, IndexError, TypeError, ValueError, zlib.error):
        raise UsageError(f"record {record_id} of {project} cannot be read") from None
    return record


def _check(record: Any) -> None:
    """What zdd's own records hold, where `zdd history` and the page read it (ValueError)."""
    if not isinstance(record, dict) or not all(
        isinstance(record.get(k), list) for k in ("events", "traffic", "argv")
    ):
        raise ValueError("not a record")
    for key in ("id", "project", "command", "started", "result", "error"):
        record[key] = str(record.get(key, ""))
    record["exit_code"], record["seconds"] = int(record["exit_code"]), float(record["seconds"])
    for entry in (*record["events"], *record["traffic"]):
        if not isinstance(entry, dict):
            raise ValueError("not a record")
        float(entry["t"])  # every entry has its second
    for second in record["traffic"]:
        int(second["requests"]), int(second["failed"]), float(second["p99_ms"])
