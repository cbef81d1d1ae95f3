"""Open the project for one command: the engine (through an SSH tunnel for ssh://), the
compose files, and the project's lock when the command changes something."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zdd.events import Reporter
    from zdd.probe import Report
    from zdd.session import Session


@dataclass(frozen=True)
class Progress:
    """Where a use case says what happens; the command line prints it."""

    event: Reporter  # steps, warnings, the proxy mode, the summary
    say: Callable[[str], None]  # one plain line: a lock waited for, a file written
    probed: Callable[[Report], None]  # what --verify measured


@dataclass(frozen=True)
class Connection:
    """The options every command shares that say which project to open, and on which engine
    (named as the command line's)."""

    file: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_file: str | None = None
    compose_cmd: str | None = None
    context: str | None = None

    def argv(self, project: str) -> list[str]:
        """The options that open the same project again (for the guardian's `zdd heal`)."""
        argv = [arg for path in self.file for arg in ("-f", os.path.abspath(path))]
        argv += ["-p", project]
        for flag, value in (
            ("--project-directory", self.project_directory),
            ("--env-file", self.env_file and os.path.abspath(self.env_file)),
            ("--compose-cmd", self.compose_cmd),
        ):
            argv += [flag, value] if value else []
        return argv


@contextmanager
def open_project(
    connection: Connection,
    lock: str | None = None,
    *,
    identify: bool = False,
    engine_needed: bool = True,
    on_wait: Callable[[str], None] = lambda message: None,
    lock_wait: float = 0.0,
) -> Iterator[Session]:
    """The opened project; with `lock`, the project's lock on this engine is held first, so
    that a second deploy exits 4 before it spends time on compose. The engine's identity is
    asked for (`identify`, or to key the lock) while the compose files load. An ssh:// engine
    is reached through one SSH connection for the whole command (remote.engine_tunnel)."""
    from dataclasses import replace

    from zdd.lock import project_lock
    from zdd.project import LoadOptions
    from zdd.remote import engine_tunnel
    from zdd.runner import Runner, engine_identity
    from zdd.session import open_session

    if connection.context:  # as `docker --context`: the named context, not DOCKER_HOST
        os.environ.pop("DOCKER_HOST", None)
        os.environ["DOCKER_CONTEXT"] = connection.context
    given = dict(os.environ)  # before the tunnel: what a later `zdd heal` must open again
    runner = Runner()
    tunnel = engine_tunnel(runner, os.environ) if engine_needed else nullcontext()
    with tunnel, runner as run:
        options = LoadOptions(
            connection.file,
            connection.project_name,
            connection.project_directory,
            connection.env_file,
        )
        identity = engine_identity(run, os.environ) if lock or identify else None
        session = open_session(options, connection.compose_cmd, run)
        engine = identity() if identity is not None else ""
        held = (
            project_lock(
                session.project.name, engine, lock, os.environ, on_wait=on_wait, wait=lock_wait
            )
            if lock
            else nullcontext()
        )
        with held:
            yield replace(session, engine=engine, environ=given)
