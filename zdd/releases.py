"""Release tags: each sibling's deployed images stay reachable for `zdd rollback`.

Every image a sibling served is tagged `zdd-release/<project>/<service>:r<ms>`; the newest
KEEP tags are kept, older ones removed (the image goes once nothing else uses it).
"""

from __future__ import annotations

import re
import time

from zdd.runner import Runner

KEEP = 3


def release_repo(project: str, service: str) -> str:
    """The repository name of a sibling's release tags."""
    safe = re.sub(r"[^a-z0-9._-]", "-", service.lower())
    return f"zdd-release/{project}/{safe}"


def list_releases(runner: Runner, project: str, service: str) -> list[tuple[str, str]]:
    """(tag, image id) of the sibling's releases, newest first."""
    output = runner.run(
        [
            "docker", "images", "--no-trunc",
            "--filter", f"reference={release_repo(project, service)}",
            "--format", "{{.Tag}} {{.ID}}",
        ]
    )  # fmt: skip
    rows = [line.split() for line in output.splitlines()]
    releases = [(r[0], r[1]) for r in rows if len(r) == 2 and re.fullmatch(r"r\d+", r[0])]
    return sorted(releases, key=lambda row: int(row[0][1:]), reverse=True)


def record(runner: Runner, project: str, service: str, image_id: str) -> None:
    """Tag `image_id` as the sibling's newest release (unless it already is); prune old ones."""
    releases = list_releases(runner, project, service)
    if releases and releases[0][1] == image_id:
        return
    repo = release_repo(project, service)
    runner.run(["docker", "tag", image_id, f"{repo}:r{time.time_ns() // 1_000_000}"])
    for tag, _ in releases[KEEP - 1 :]:
        runner.run(["docker", "rmi", "-f", "--no-prune", f"{repo}:{tag}"])  # untag only


def previous(runner: Runner, project: str, service: str, current_id: str) -> str | None:
    """The newest release that is not `current_id`."""
    for _, image_id in list_releases(runner, project, service):
        if image_id != current_id:
            return image_id
    return None
