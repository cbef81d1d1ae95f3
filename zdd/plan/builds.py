"""What a deploy builds: one build per distinct `build`, the siblings that share it tagged."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zdd.project import Group, Project, Service


@dataclass(frozen=True)
class Builds:
    """What the deploy builds: one service per distinct build, and who shares its image."""

    targets: tuple[str, ...]
    shared: Mapping[str, str]  # sibling -> the built service whose image it is tagged with


def plan_builds(project: Project, groups: Sequence[Group], singles: Sequence[str] = ()) -> Builds:
    """One build per distinct `build` (context, dockerfile, args, ...) among the siblings.

    Siblings that inherit their base's build share one image: the base is built (as the seed
    did) and each sibling is tagged with it, instead of building the same context again.
    A sibling with a build of its own is built itself; a base nobody shares is not built.
    """
    targets: list[str] = []
    built: dict[str, str] = {}  # build key -> the service that builds it
    shared: dict[str, str] = {}
    for group in groups:
        base = project.services.get(group.base)
        base_key = _build_key(base) if base is not None and base.builds else None
        for sibling in group.siblings:
            service = project.services[sibling]
            if not service.builds:
                continue
            key = _build_key(service)
            if key not in built:
                built[key] = group.base if key == base_key else sibling
                targets.append(built[key])
            if built[key] != sibling:
                shared[sibling] = built[key]
    targets += [s for s in singles if project.services[s].builds and s not in targets]
    return Builds(tuple(targets), shared)


def _build_key(service: Service) -> str:
    """Equal for services whose images compose would build the same way (compose's `config`
    gives every build its absolute context)."""
    config = service.config
    return json.dumps([config["build"], config.get("platform")], sort_keys=True, default=str)
