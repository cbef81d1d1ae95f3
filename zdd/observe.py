"""One read of the engine before planning: what the plan must know that the compose files do
not say. Today: whether each sibling's image has a HEALTHCHECK of its own, so that the plan
(and `--dry-run`) names the gate the deploy will really wait on."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from zdd.containers import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL, check_budget
from zdd.errors import ZddError
from zdd.ports import CommandRunner, Started

NO_CHECK = 0.0  # image_checks value: the image exists and has no HEALTHCHECK


def container_counts(
    runner: CommandRunner, project: str, services: Iterable[str]
) -> dict[str, int]:
    """Service -> how many containers it has (running or not; not `compose run` ones): what a
    start-first scale-up adds to. Left out when the engine does not answer."""
    wanted = list(services)
    if not wanted:
        return {}
    argv = ["docker", "ps", "-a", "--filter", f"label={PROJECT_LABEL}={project}"]
    argv += ["--format", f'{{{{.Label "{SERVICE_LABEL}"}}}} {{{{.Label "{ONEOFF_LABEL}"}}}}']
    try:
        output = runner.run(argv, timeout=30)
    except ZddError:
        return {}
    counts = dict.fromkeys(wanted, 0)
    for line in output.splitlines():
        service, _, oneoff = line.partition(" ")
        if service in counts and oneoff.strip() != "True":
            counts[service] += 1
    return counts


def image_checks(runner: CommandRunner, images: Iterable[str]) -> Mapping[str, float]:
    """Image name -> the gate budget its HEALTHCHECK implies (NO_CHECK: it has none). An
    image that is not there yet (a first deploy), or an engine that does not answer, is left
    out: the plan then says it cannot know."""
    pending: dict[str, Started] = {}
    for image in dict.fromkeys(images):
        argv = [
            "docker",
            "image",
            "inspect",
            "--format",
            "{{json .Config.Healthcheck}}",
            "--",
            image,
        ]
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
