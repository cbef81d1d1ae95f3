"""The managed nginx: put a project behind it (`zdd init`), put every ready sibling back in its
rotation (`zdd heal`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zdd.app.rollout import choose_proxy
from zdd.app.session import Connection, Progress, open_project
from zdd.proxy import ProxyMode

if TYPE_CHECKING:
    from zdd.init import Setup


@dataclass(frozen=True)
class HealOptions:
    """What `zdd heal` was asked (named as the command line's options)."""

    proxy: ProxyMode = ProxyMode.AUTO
    proxy_service: str = ""  # "": `x-zdd: {proxy_service}`, else proxy
    drain_timeout: float = 30.0
    wait_for: tuple[str, ...] = ()  # siblings to wait for until they are in rotation
    wait: float = 60.0  # at most this long
    stale: tuple[str, ...] = ()  # containers never to admit while they run
    stale_for: float = 15.0  # at most this long


def heal_proxy(connection: Connection, options: HealOptions, progress: Progress) -> None:
    """Holding the project's lock, admit every ready sibling and take out the ones not ready,
    until each of `wait_for` is in rotation; never admit a `stale` container while it runs.
    Reports a summary event."""
    from zdd.errors import UsageError
    from zdd.events import Event
    from zdd.heal import heal as heal_rotation
    from zdd.proxy import make_rotation
    from zdd.proxy.modes import capabilities
    from zdd.proxy.nginx import NginxRotation

    with open_project(connection, "heal", on_wait=progress.say) as session:
        warn = lambda message: progress.event(Event("warning", message))  # noqa: E731
        choice, service = choose_proxy(
            session.project, options.proxy, options.proxy_service, refuse=False
        )
        if not capabilities(choice.mode).healed:
            raise UsageError("zdd heal works on the managed nginx only (--proxy nginx)")
        rotation = make_rotation(
            "nginx",
            session,
            proxy_service=service,
            drain_timeout=options.drain_timeout,
            warn=warn,
            singles=session.project.singles((), service),
        )
        assert isinstance(rotation, NginxRotation)
        rotation.stale.update(options.stale)
        left = heal_rotation(
            rotation, options.wait_for, options.wait, warn=warn, stale_for=options.stale_for
        )
        message = "every ready sibling is in rotation"
        if left:
            message += f"; still out (not ready): {', '.join(sorted(left))}"
        progress.event(Event("summary", message, {"out": sorted(left)}))


def init_files(
    connection: Connection, proxy_service: str | None, write: bool, progress: Progress
) -> Setup:
    """The override and nginx.conf that put the project behind the managed nginx; with
    `write`, written beside the first compose file (never over a file that exists)."""
    from zdd.errors import UsageError
    from zdd.init import NGINX, OVERRIDE, setup
    from zdd.proxy.choose import proxy_service_of

    with open_project(connection, engine_needed=False) as session:
        service = proxy_service_of(session.project, proxy_service)
        if proxy_service and proxy_service not in session.project.services:  # a typo, not a new one
            known = ", ".join(session.project.services)
            raise UsageError(f"--proxy-service {proxy_service!r}: no such service ({known})")
        made = setup(session.project, service, os.environ.get("ZDD_NGINX_IMAGE") or "nginx:1.27")
        if not write:
            return made
        folder = session.project.files[0].parent
        targets = {folder / OVERRIDE: made.override, folder / NGINX: made.nginx}
        for path in targets:
            if path.exists():
                raise UsageError(f"{path} exists: move it away, or run zdd init without --write")
        for path, text in targets.items():
            path.write_text(text, encoding="utf-8")
            progress.say(f"wrote {path}")
        return made
