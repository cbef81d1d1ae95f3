"""What zdd prints, as lines: events, plans, findings, probe reports, status and services, each
as text for people or one JSON event per line (--json). Only the command line writes them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence

    from zdd.app.inspect import Status, SwarmStatus
    from zdd.app.swarm import SwarmPreview
    from zdd.events import Event
    from zdd.init import Setup
    from zdd.plan import Plan
    from zdd.preflight import Finding
    from zdd.probe import Report
    from zdd.project import Project


class Line(NamedTuple):
    """One line to print, on stderr (`err`) or stdout."""

    text: str
    err: bool = False


def event_line(event: Event, as_json: bool) -> Line:
    """A progress event: a JSON event on stdout, else `zdd: ...` on stderr (steps timed)."""
    if as_json:
        return Line(json.dumps({"event": event.kind, "message": event.message, **event.data}))
    if event.kind == "step" and "seconds" in event.data:
        return Line(f"zdd: {event.data['seconds']:6.2f}s  {event.message}", err=True)
    return Line(f"zdd: {event.message}", err=True)


def said(message: str) -> Line:
    """A progress line on stderr, with or without --json."""
    return Line(f"zdd: {message}", err=True)


def dry_run_lines(shown: Plan | SwarmPreview | None, as_json: bool) -> list[Line]:
    """What --dry-run shows: every step of the plan, or Swarm's commands and stack file (None:
    nothing, the command ran)."""
    from zdd.app.swarm import SwarmPreview

    if shown is None:
        return []
    if isinstance(shown, SwarmPreview):
        return _swarm_preview_lines(shown)
    return _plan_lines(shown, as_json)


def _plan_lines(plan: Plan, as_json: bool) -> list[Line]:
    if as_json:  # each step's sibling or single service, where it has one
        return [
            Line(json.dumps({"event": "plan", "step": step.describe()} | _service(step.service)))
            for step in plan.steps
        ]
    return [Line(step.describe()) for step in plan.steps]


def _service(service: str | None) -> dict[str, str]:
    return {} if service is None else {"service": service}


def _swarm_preview_lines(preview: SwarmPreview) -> list[Line]:
    if preview.stack_file is None:
        return [Line(f"docker service rollback --detach -- {preview.project}_SERVICE, each")]
    return [*(Line(" ".join(argv)) for argv in preview.commands), Line(preview.stack_file.rstrip())]


def probe_lines(report: Report, as_json: bool) -> list[Line]:
    """What a probe measured: requests, failures by kind, latency, versions served."""
    summary = report.summary()
    if as_json:
        return [Line(json.dumps({"event": "probe", **summary}))]
    failures = summary["failures"]
    assert isinstance(failures, dict)
    kinds = ", ".join(f"{k} {v}" for k, v in failures.items()) or "none"
    lines = [
        Line(
            f"zdd: probe: {summary['requests']} requests, {summary['failed']} failed ({kinds}), "
            f"longest failure run {summary['longest_failure_ms']} ms, "
            f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms",
            err=True,
        )
    ]
    versions = summary["versions"]
    assert isinstance(versions, list)
    for item in versions:
        lines.append(
            Line(
                f"zdd: probe:   {item['version']}: {item['count']} answers, "
                f"{item['first_s']}-{item['last_s']} s",
                err=True,
            )
        )
    return lines


def finding_lines(findings: Sequence[Finding], as_json: bool) -> list[Line]:
    """`zdd check`: each service's role and what the deploy does with it, each refusal and
    warning, then the count."""
    lines = []
    for finding in findings:
        word = {"refuse": "refuse", "info": "service"}.get(finding.level, "warning")
        if as_json:
            lines.append(Line(json.dumps({"event": word, "message": finding.message})))
        else:
            lines.append(Line(f"zdd: {word}: {finding.message}", err=True))
    findings = [f for f in findings if f.level != "info"]
    refused = sum(f.level == "refuse" for f in findings)
    summary = f"{refused} refusal(s), {len(findings) - refused} warning(s)"
    if as_json:
        lines.append(Line(json.dumps({"event": "summary", "message": summary, "refused": refused})))
    else:
        lines.append(Line(f"zdd: check: {summary}" if findings else "zdd: check: ok", err=True))
    return lines


def status_lines(status: Status | SwarmStatus, as_json: bool) -> list[Line]:
    """`zdd status`: each sibling (or each task of the stack) and the lock."""
    from zdd.app.inspect import SwarmStatus

    if isinstance(status, SwarmStatus):
        return _swarm_status_lines(status, as_json)
    if as_json:
        siblings = [asdict(row) for row in status.rows]
        return [
            Line(json.dumps({"project": status.project, "lock": status.lock, "siblings": siblings}))
        ]
    state = f"deploy in progress, {status.lock}" if status.lock else "no deploy running"
    lines = [Line(f"project {status.project}: {state}")]
    rows = status.rows
    if rows and all(row.in_rotation is False for row in rows):
        lines.append(Line("  the proxy routes to no sibling zdd rendered: run zdd heal"))
    for row in rows:
        rotation = {True: "in rotation", False: "OUT of rotation", None: ""}[row.in_rotation]
        if row.in_rotation is False and row.status == "running" and row.health != "unhealthy":
            rotation += " (running: zdd heal admits it once ready)"
        image = (row.image_id or "")[7:19]
        release = f" ({row.release})" if row.release else ""
        health = f" {row.health}" if row.health else ""
        lines.append(
            Line(
                f"  {row.service:<12} {row.container or '-':<28} {row.status}{health}  "
                f"image {image or '-'}{release}  {rotation}".rstrip()
            )
        )
    return lines


def _swarm_status_lines(status: SwarmStatus, as_json: bool) -> list[Line]:
    if as_json:
        tasks = [asdict(task) for task in status.tasks]
        return [Line(json.dumps({"project": status.project, "engine": "swarm", "tasks": tasks}))]
    lines = [Line(f"stack {status.project}: {len(status.tasks)} task(s) desired running")]
    return [*lines, *(Line(f"  {task.line()}") for task in status.tasks)]


def services_lines(project: Project, as_json: bool) -> list[Line]:
    """`zdd services`: each group (a base and the siblings that `extends` it), the services
    a deploy rolls out on their own, and the others; each with its role and the evidence."""
    from zdd.proxy.choose import proxy_service_of

    grouped = {name for g in project.groups for name in (g.base, *g.siblings)}
    singles = project.singles((), proxy_service_of(project, None))
    others = [n for n in project.services if n not in grouped and n not in singles]
    if as_json:
        groups = [{"base": g.base, "siblings": list(g.siblings)} for g in project.groups]
        roles = {
            name: {"role": str(s.role), "reason": s.evidence.reason}
            for name, s in project.services.items()
        }
        document = {
            "project": project.name,
            "files": [str(p) for p in project.files],
            "legacy": project.legacy,
            "groups": groups,
            "singles": list(singles),
            "others": others,
            "roles": roles,
        }
        return [Line(json.dumps(document))]
    kind = "legacy v1 format" if project.legacy else "compose spec"
    names = ", ".join(_relative(p) for p in project.files)
    lines = [Line(f"project {project.name} ({names}, {kind})")]
    for group in project.groups:
        base = group.base if group.base_in_project else f"{group.base} (from another file)"
        lines.append(Line(f"  {base} -> {', '.join(group.siblings)}"))
    if not project.groups:
        lines.append(Line("  no groups: no service `extends` another one"))
    if singles:
        said = ", ".join(_with_role(project, name) for name in singles)
        lines.append(Line(f"  rolled out on its own: {said}"))
    if others:
        lines.append(Line(f"  not rolled out: {', '.join(_with_role(project, n) for n in others)}"))
    return lines


def _with_role(project: Project, name: str) -> str:
    evidence = project.services[name].evidence
    return f"{name} ({evidence.role}: {evidence.reason})" if evidence.reason else name


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def setup_lines(made: Setup, *, written: bool) -> list[Line]:
    """`zdd init`: the files it proposes (unless it wrote them), then how to use them."""
    from zdd.init import NGINX, OVERRIDE

    then = [Line(f"zdd: {made.switch}", err=True), Line(f"zdd: then: {made.usage}", err=True)]
    if written:
        return then
    return [Line(f"# --- {OVERRIDE}\n{made.override}\n# --- {NGINX}\n{made.nginx}"), *then]


def history_lines(records: Sequence[dict[str, Any]], *, whole: bool, as_json: bool) -> list[Line]:
    """The records' summaries, one line each; or one record whole (`whole`): each event at
    its second, then how the run ended."""
    if as_json:
        kind = "record" if whole else "history"
        return [Line(json.dumps({"event": kind, **record})) for record in records]
    if not whole:
        if not records:
            return [Line("no deploy or rollback recorded for this project on this engine")]
        return [
            Line(f"{r['id']}  {r['started']}  {r['command']:8}  {r['result']:11}  "
                 f"exit {r['exit_code']:<3}  {r['seconds']:7.1f}s")
            for r in records
        ]  # fmt: skip
    record = records[0]
    lines = [Line(f"{record['command']} of {record['project']}, {record['started']}: "
                  f"zdd {' '.join(record['argv'])}".rstrip())]  # fmt: skip
    lines += [Line(f"{event['t']:8.2f}s  {event['message']}") for event in record["events"]]
    ending = f"{record['result']}, exit {record['exit_code']}, {record['seconds']:.1f}s"
    return [*lines, Line(f"{record['seconds']:8.2f}s  {ending}{': ' if record['error'] else ''}"
                         f"{record['error']}")]  # fmt: skip
