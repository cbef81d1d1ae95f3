"""Release tags: each sibling's deployed images stay reachable for `zdd rollback`.

Every image a sibling served is tagged `zdd-release/<project>/<service>:r<ms>`; the newest
KEEP tags are kept, older ones removed (the image goes once nothing else uses it). The tags of
the whole project are listed once per command (one `docker images`) and kept up to date here.
"""

from __future__ import annotations

import re
import time

from zdd.errors import ZddError
from zdd.ports import CommandRunner, Started

KEEP = 3


def release_repo(project: str, service: str) -> str:
    """The repository name of a sibling's release tags."""
    safe = re.sub(r"[^a-z0-9._-]", "-", service.lower())
    return f"zdd-release/{project}/{safe}"


class Ledger:
    """The project's release tags: listed on first use, then updated as zdd tags."""

    def __init__(self, runner: CommandRunner, project: str) -> None:
        self.runner = runner
        self.project = project
        self._by_repo: dict[str, list[tuple[str, str]]] | None = None
        self._listing: Started | None = None
        self._pending: list[Started] = []

    def prefetch(self) -> None:
        """Start listing the tags in the background (e.g. while the build runs)."""
        if self._by_repo is None and self._listing is None:
            self._listing = self.runner.start(
                [
                    "docker", "images", "--no-trunc",
                    "--filter", f"reference=zdd-release/{self.project}/*",
                    "--format", "{{.Repository}} {{.Tag}} {{.ID}}",
                ]
            )  # fmt: skip

    def releases(self, service: str) -> list[tuple[str, str]]:
        """(tag, image id) of the sibling's releases, newest first."""
        if self._by_repo is None:
            self.prefetch()
            assert self._listing is not None
            self._by_repo = _parse(self._listing.result())
        return self._by_repo.setdefault(release_repo(self.project, service), [])

    def record(self, service: str, image_id: str, *, wait: bool = True) -> None:
        """Tag `image_id` as the sibling's newest release (unless it already is); prune.

        With wait=False the tagging runs in the background until `flush()`."""
        releases = self.releases(service)
        if releases and releases[0][1] == image_id:
            return
        repo = release_repo(self.project, service)
        tag = f"r{time.time_ns() // 1_000_000}"
        commands = [["docker", "tag", "--", image_id, f"{repo}:{tag}"]]
        releases.insert(0, (tag, image_id))
        commands += [
            ["docker", "rmi", "-f", "--no-prune", "--", f"{repo}:{old}"]
            for old, _ in releases[KEEP:]
        ]
        del releases[KEEP:]
        self._pending += [self.runner.start(argv) for argv in commands]
        if wait and (errors := self.flush()):
            raise errors[0]

    def flush(self) -> list[ZddError]:
        """Wait for the background tagging; its errors."""
        pending, self._pending = self._pending, []
        errors: list[ZddError] = []
        for command in pending:
            try:
                command.result()
            except ZddError as err:
                errors.append(err)
        return errors

    def forget(self, service: str, image_id: str) -> None:
        """Drop the sibling's release tags of `image_id`: a release its own deploy rolled
        back, so that `zdd rollback` does not bring it back."""
        self.flush()
        releases = self.releases(service)
        for tag, found in [r for r in releases if r[1] == image_id]:
            releases.remove((tag, found))
            argv = [
                "docker",
                "rmi",
                "-f",
                "--no-prune",
                "--",
                f"{release_repo(self.project, service)}:{tag}",
            ]
            self.runner.run(argv)

    def previous(self, service: str, current_id: str) -> str | None:
        """The newest release that is not `current_id`."""
        return next((i for _, i in self.releases(service) if i != current_id), None)


def _parse(output: str) -> dict[str, list[tuple[str, str]]]:
    """`REPOSITORY TAG ID` lines -> repository -> [(tag, id)], newest first."""
    found: dict[str, list[tuple[str, str]]] = {}
    for row in (line.split() for line in output.splitlines()):
        if len(row) == 3 and re.fullmatch(r"r\d+", row[1]):
            found.setdefault(row[0], []).append((row[1], row[2]))
    for rows in found.values():
        rows.sort(key=lambda row: int(row[0][1:]), reverse=True)
    return found
