"""One run's record drawn as one self-contained page (`zdd history ID --html FILE`): a timeline
per container (each step it went through: built, drained, stopped, started, gated, admitted,
watched in its admission window, retired), and under it, on the same time axis, the requests
and failures per second and the p99 latency the --verify probe saw, so that one sees at a
glance where the deploy spent its time and whether anyone noticed. Inline SVG and CSS, no
script, nothing fetched; every name and message from the record is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

WIDTH, LEFT, ROW = 960, 150, 26  # px: the drawing, the names' column, one timeline row
CHART = 140  # px: the traffic chart's height
COLORS = {  # a step's kind -> its colour
    "build": "#8c8c8c",
    "pull": "#8c8c8c",
    "tag": "#b0b0b0",
    "drain": "#e39b2d",
    "stop": "#c0392b",
    "up": "#2e86c1",
    "start": "#2e86c1",
    "gate": "#8e44ad",
    "admit": "#27ae60",
    "watch": "#16a085",  # the admission window: judged on real traffic
    "retire": "#7f8c8d",
    "retag": "#b0b0b0",
}
PHASES = ("build", "drain", "stop", "up", "start", "gate", "admit", "watch", "retire")  # the legend


def _steps(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The record's step events, each with its start (`t` is when it ended)."""
    found = []
    for event in record.get("events", ()):
        if event.get("event") == "step":
            seconds = float(event.get("seconds") or 0)
            found.append({**event, "from": max(0.0, float(event["t"]) - seconds)})
    return found


def page(record: Mapping[str, Any]) -> str:
    """The page, as HTML text."""
    total = max(
        [float(record.get("seconds") or 0), 1.0]
        + [float(t["t"]) + 1 for t in record.get("traffic", ())]
    )
    scale = (WIDTH - LEFT - 10) / total
    steps = _steps(record)
    rows = list(dict.fromkeys(str(s.get("service") or "(all)") for s in steps))
    title = (
        f"{record['command']} of {record['project']}, {record['started']}: "
        f"{record['result']}, exit {record['exit_code']}, {record['seconds']} s"
    )
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<title>zdd: {escape(title)}</title>",
        "<style>body{font:14px sans-serif;margin:2em}svg text{font:12px sans-serif}"
        ".legend span{display:inline-block;margin-right:1em}"
        ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px}"
        "table{border-collapse:collapse}td{padding:1px 8px;vertical-align:top}"
        ".failed{color:#c0392b}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='error'>{escape(str(record.get('error') or ''))}</p>",
        _legend(),
        _timeline(rows, steps, scale, total),
        _traffic(record.get("traffic") or [], scale, total),
        _events(record.get("events") or []),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def _legend() -> str:
    items = "".join(f"<span><i style='background:{COLORS[k]}'></i>{k}</span>" for k in PHASES)
    return f"<p class='legend'>{items}</p>"


def _axis(y: int, scale: float, total: float) -> str:
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800) if total / s <= 12)
    ticks = []
    for second in range(0, int(total) + 1, step):
        x = LEFT + second * scale
        ticks.append(
            f"<line x1='{x:.1f}' y1='0' x2='{x:.1f}' y2='{y}' stroke='#eee'/>"
            f"<text x='{x:.1f}' y='{y + 14}' text-anchor='middle'>{second}s</text>"
        )
    return "".join(ticks)


def _timeline(
    rows: Sequence[str], steps: Sequence[dict[str, Any]], scale: float, total: float
) -> str:
    height = ROW * len(rows) + 4
    shapes = [_axis(height, scale, total)]
    for index, name in enumerate(rows):
        y = index * ROW + 2
        shapes.append(f"<text x='0' y='{y + 16}'>{escape(name)}</text>")
        for step in (s for s in steps if str(s.get("service") or "(all)") == name):
            kind = str(step.get("kind") or "step")
            x, width = (
                LEFT + step["from"] * scale,
                max(2.0, float(step.get("seconds") or 0) * scale),
            )
            shapes.append(
                f"<rect class='phase' data-service='{escape(name, quote=True)}' "
                f"data-kind='{escape(kind, quote=True)}' x='{x:.1f}' y='{y}' "
                f"width='{width:.1f}' height='{ROW - 6}' fill='{COLORS.get(kind, '#555')}'>"
                f"<title>{escape(kind)} {escape(name)}: {step['from']:.2f}-{step['t']:.2f}s "
                f"{escape(str(step.get('message', '')))}</title></rect>"
            )
    return (
        f"<h2>Each container's steps</h2><svg class='timeline' width='{WIDTH}' "
        f"height='{height + 20}'>{''.join(shapes)}</svg>"
    )


def _traffic(traffic: Sequence[Mapping[str, Any]], scale: float, total: float) -> str:
    if not traffic:
        return (
            "<h2>Traffic</h2><p class='no-traffic'>No probe ran during this run: "
            "<code>--verify URL</code> records requests, failures and p99 here.</p>"
        )
    most = max(int(s["requests"]) for s in traffic) or 1
    slowest = max(float(s["p99_ms"]) for s in traffic) or 1.0
    width = max(2.0, scale - 1)
    shapes = [_axis(CHART, scale, total)]
    points = []
    for second in traffic:
        x = LEFT + float(second["t"]) * scale
        for value, css in ((second["requests"], "requests"), (second["failed"], "failed")):
            height = int(value) / most * (CHART - 10)
            fill = "#c0392b" if css == "failed" else "#aed6f1"
            shapes.append(
                f"<rect class='{css}' x='{x:.1f}' y='{CHART - height:.1f}' "
                f"width='{width:.1f}' height='{height:.1f}' fill='{fill}'/>"
            )
        points.append(
            f"{x + width / 2:.1f},{CHART - float(second['p99_ms']) / slowest * (CHART - 10):.1f}"
        )
    shapes.append(
        f"<polyline class='p99' points='{' '.join(points)}' fill='none' "
        "stroke='#1a5276' stroke-width='2'/>"
    )
    failed = sum(int(s["failed"]) for s in traffic)
    requests = sum(int(s["requests"]) for s in traffic)
    note = (
        f"{requests} requests, <span class='{'failed' if failed else 'ok'}'>{failed} failed"
        f"</span>; bars: requests (up to {most}/s) and failures per second; line: p99 "
        f"(up to {slowest:.0f} ms)"
    )
    return (
        f"<h2>Traffic seen by the probe</h2><p>{note}</p><svg class='traffic' "
        f"width='{WIDTH}' height='{CHART + 20}'>{''.join(shapes)}</svg>"
    )


def _events(events: Sequence[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{float(e['t']):.2f}s</td><td>{escape(str(e.get('message', '')))}</td></tr>"
        for e in events
    )
    return f"<h2>Every event</h2><table class='events'>{rows}</table>"
