"""What a command reports as it goes: one event per step, warning, mode line or summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """One progress event: `kind` is step, warning or summary."""

    kind: str
    message: str
    data: Mapping[str, object] = field(default_factory=dict)


Reporter = Callable[[Event], None]
