"""One read of the engine before planning: what the plan must know that the compose files do
not say. Today: whether each sibling's image has a HEALTHCHECK of its own, so that the plan
(and `--dry-run`) names the gate the deploy will really wait on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from zdd.containers import check_budget
from zdd.errors import ZddError
from zdd.runner import Pending, Runner

NO_CHECK = 0.0  # image_checks value: the image exists and has no HEALTHCHECK


def image_checks(runner: Runner, images: Iterable[str]) -> Mapping[str, float]:
    """Image name -> the gate budget its HEALTHCHECK implies (NO_CHECK: it has none). An
    image that is not there yet (a first deploy), or an engine that does not answer, is left
    out: the plan then says it cannot know."""
    pending: dict[str, Pending] = {}
    for image in dict.fromkeys(images):
        argv = ["docker", "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image]
        try:
            pending[image] = runner.start(argv, timeout=30)
        except ZddError:
            return {}
    found: dict[str, float] = {}
    for image, started in pending.items():
        try:
            check = json.loads(started.result() or "null")
        except (ZddError, ValueError):
            continue
        budget = check_budget(check if isinstance(check, dict) else None)
        found[image] = NO_CHECK if budget is None else budget
    return found
