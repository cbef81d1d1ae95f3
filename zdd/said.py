"""What a finished step says: its own description, or the words the executor found (a gate's
policy seen only at run time, an admission window's numbers, a drain's connections)."""

from __future__ import annotations

from zdd.events import Event
from zdd.gating import Gating
from zdd.plan import Gate, Rotate, RotateAction, Step, Watch
from zdd.proxy import Rotation


def said(step: Step, seconds: float, gating: Gating, rotation: Rotation) -> Event:
    """The `step` event of a step that took `seconds`."""
    data: dict[str, object] = {
        "service": step.service,
        "kind": step.kind,
        "seconds": round(seconds, 2),
    }
    text = gating.said.pop(step.service, "") if isinstance(step, Gate | Watch) else ""
    if isinstance(step, Watch) and step.service in gating.judged:
        data["traffic"] = gating.judged.pop(step.service)
    if isinstance(step, Rotate) and step.action is RotateAction.DRAIN:
        counted = rotation.drained(step.service)
        if counted is not None:  # long-lived ones (streams, WebSockets) cut, if any, said
            data["connections"] = {"open": counted.open, "finished": counted.open - counted.cut,
                                   "cut": counted.cut}  # fmt: skip
            text = f"{step.describe()} ({counted.describe()})" if counted.open else text
    return Event("step", text or step.describe(), data)
