"""Read where a Swarm update stands, from `docker service inspect` and `docker service ps`
(pure: parsing and deciding; the polling is in swarm/rollout.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UPDATING = ("updating", "rollback_started")
PAUSED = ("paused", "rollback_paused")


@dataclass(frozen=True)
class Task:
    """One task of a service, as `docker service ps --format '{{json .}}'` prints it."""

    id: str
    name: str
    image: str
    node: str
    desired: str
    current: str  # e.g. "Running 3 seconds ago"
    error: str

    @property
    def running(self) -> bool:
        """Desired and actually running (Swarm says running only once a healthcheck passed)."""
        return self.desired.lower() == "running" and self.current.lower().startswith("running")

    def line(self) -> str:
        """`app.2 on node-1: running (image ...:3f2a)`."""
        state = self.current.split(" ", 1)[0].lower() or "?"
        error = f": {self.error}" if self.error else ""
        tag = self.image.rsplit("@", 1)[0].rsplit("/", 1)[-1]
        return f"{self.name} on {self.node or '?'}: {state} ({tag}){error}"


@dataclass(frozen=True)
class ServiceState:
    """What `docker service inspect` says of one service."""

    name: str
    image: str  # the spec's image, with the digest `stack deploy` resolved
    replicas: int | None  # None: a global service
    update: str  # the update's state, "" before any update
    started: str  # when that update started (tells a new update from an old one)
    message: str
    previous_image: str = ""  # the image of the spec `docker service rollback` returns to
    template: str = ""  # the task template, as JSON: a change means Swarm updates the tasks


def _image(spec: Mapping[str, Any]) -> str:
    return str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", ""))


def parse_services(output: str) -> dict[str, ServiceState]:
    """`docker service inspect NAME...` (a JSON list) by service name."""
    found = {}
    for item in json.loads(output or "[]"):
        spec = item.get("Spec") or {}
        mode = spec.get("Mode") or {}
        replicated = mode.get("Replicated")
        status = item.get("UpdateStatus") or {}
        state = ServiceState(
            name=str(spec.get("Name", "")),
            image=_image(spec),
            replicas=int(replicated.get("Replicas", 1)) if replicated is not None else None,
            update=str(status.get("State", "")),
            started=str(status.get("StartedAt", "")),
            message=str(status.get("Message", "")),
            previous_image=_image(item.get("PreviousSpec") or {}),
            template=json.dumps(spec.get("TaskTemplate") or {}, sort_keys=True),
        )
        found[state.name] = state
    return found


def parse_tasks(output: str) -> list[Task]:
    """`docker service ps --no-trunc --format '{{json .}}'`: one JSON object per line."""
    tasks = []
    for line in output.splitlines():
        if not line.strip():
            continue
        row: Mapping[str, Any] = json.loads(line)
        tasks.append(
            Task(
                id=str(row.get("ID", "")),
                name=str(row.get("Name", "")).lstrip("\\_ ").strip(),
                image=str(row.get("Image", "")),
                node=str(row.get("Node", "")),
                desired=str(row.get("DesiredState", "")),
                current=str(row.get("CurrentState", "")),
                error=str(row.get("Error", "")).strip(),
            )
        )
    return tasks


@dataclass(frozen=True)
class Verdict:
    """Where one service's rollout stands."""

    done: bool
    rolled_back: bool = False
    paused: bool = False
    why: str = ""
    tasks_ready: bool = False  # every task Swarm wants runs the new image (its update may not end)


def judge(
    state: ServiceState, before: ServiceState | None, tasks: Sequence[Task], *, patient: bool = True
) -> Verdict:
    """Done once no update of this deploy runs and every task Swarm wants runs the spec's
    image (a replicated service: its replicas; a global one: one per node it placed). `before`
    is the service as it was before the deploy: an older update's final state says nothing of
    this one, and a changed task template is done only once Swarm's update of it has ended
    (while `patient`: the first seconds after the deploy, before Swarm has started it)."""
    fresh = before is None or state.started != before.started
    update = state.update if fresh else ""
    if update in PAUSED:
        return Verdict(False, paused=True, why=state.message or update)
    desired = [t for t in tasks if t.desired.lower() == "running"]
    running = [t for t in desired if t.running and t.image == state.image]
    # an old task Swarm still wants running serves the old release: not done, whatever the
    # count (start-first, an update held open by a node that went down: 3 new and 1 old)
    stale = [t for t in desired if t.running and t.image != state.image]
    wanted = max(state.replicas if state.replicas is not None else len(desired), 1)
    waiting = patient and before is not None and state.template != before.template and not fresh
    ready = len(running) >= wanted and not stale
    converged = not waiting and update not in UPDATING and ready
    return Verdict(
        converged,
        tasks_ready=ready,
        rolled_back=update == "rollback_completed",
        why=state.message
        or f"{len(running)} of {wanted} task(s) running the new image"
        + (f", {len(stale)} still on the old one" if stale else ""),
    )


def failures(tasks: Sequence[Task]) -> list[Task]:
    """The tasks that failed or were rejected, newest first as `service ps` lists them."""
    return [t for t in tasks if t.error or t.current.lower().startswith(("failed", "rejected"))]
