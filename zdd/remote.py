"""An engine on another host, at local speed: for `ssh://` zdd holds one SSH connection for the
whole command and points every docker and compose command at a socket forwarded through it.

Through `DOCKER_HOST=ssh://...` each docker or compose call opens its own SSH connection (about
0.3 s each, 3x the deploy time measured), and compose v1 cannot use it at all without paramiko.
A unix socket forwarded by one `ssh -L` serves both at local speed. It lives in a directory
only this user can open, and ends with zdd: on every exit path, and even after a SIGKILL (the
remote `cat` that holds the connection reads zdd's pipe to its end).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from zdd.errors import ComposeUnavailableError, UsageError, ZddError
from zdd.guardian import Held
from zdd.ports import CommandRunner

REMOTE_SOCKET = "/var/run/docker.sock"  # the engine's socket on the remote host (rootful)
CONNECT_TIMEOUT = 20.0  # seconds for the SSH connection and its forwarded socket
_HOST = re.compile(r"[A-Za-z0-9_.:\[\]%-]+")  # a host name or address, never an option


def engine_address(runner: CommandRunner, environ: Mapping[str, str]) -> str:
    """Where docker sends commands: DOCKER_HOST, else the host of the context in use
    (DOCKER_CONTEXT, else the docker CLI config's current context); "" for the default."""
    if environ.get("DOCKER_HOST"):
        return environ["DOCKER_HOST"]
    context = environ.get("DOCKER_CONTEXT") or _current_context(environ)
    if not context or context == "default":
        return ""
    argv = ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}", "--", context]
    try:
        return runner.run(argv, timeout=30).strip()
    except ZddError as err:
        raise UsageError(f"docker context {context!r}: {err}") from None


def _current_context(environ: Mapping[str, str]) -> str:
    folder = environ.get("DOCKER_CONFIG") or str(Path(environ.get("HOME", "~")) / ".docker")
    try:
        config = json.loads((Path(folder).expanduser() / "config.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(config.get("currentContext") or "") if isinstance(config, dict) else ""


def ssh_argv(address: str, local: Path) -> list[str]:
    """`ssh -L LOCAL:REMOTE_SOCKET HOST cat` for an `ssh://[user@]host[:port]` address."""
    parts = urlsplit(address)
    host = parts.hostname or ""
    if not host or not _HOST.fullmatch(host) or host.startswith("-") or parts.path not in ("", "/"):
        raise UsageError(f"engine address {address!r}: expected ssh://[USER@]HOST[:PORT]")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes"]
    argv += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
    argv += ["-o", f"ConnectTimeout={int(CONNECT_TIMEOUT)}"]
    argv += ["-L", f"{local}:{REMOTE_SOCKET}"]
    if parts.port:
        argv += ["-p", str(parts.port)]
    if parts.username:
        if parts.username.startswith("-"):
            raise UsageError(f"engine address {address!r}: a user name cannot start with `-`")
        argv += ["-l", parts.username]
    return [*argv, "--", host, "cat"]  # `cat` reads zdd's pipe: it ends when zdd does


@dataclass(frozen=True)
class Tunnel:
    """The SSH connection an ssh:// engine is reached through (`held` None: no tunnel)."""

    address: str = ""
    held: Held | None = None

    def lost(self) -> bool:
        """Whether the connection was there and has ended."""
        return self.held is not None and not self.held.alive()


@contextmanager
def engine_tunnel(runner: CommandRunner, environ: MutableMapping[str, str]) -> Iterator[Tunnel]:
    """While it is open, `environ` points docker at a socket forwarded over one SSH connection,
    where the engine in use is `ssh://` (ZDD_SSH_TUNNEL=0: docker's own ssh, one connection per
    command). An engine error after the connection ended says so."""
    address = engine_address(runner, environ)
    if not address.startswith("ssh://") or environ.get("ZDD_SSH_TUNNEL") == "0":
        yield Tunnel()
        return
    base = environ.get("XDG_RUNTIME_DIR") or None
    folder = Path(
        tempfile.mkdtemp(prefix="zdd-ssh-", dir=base if base and os.path.isdir(base) else None)
    )
    local = folder / "docker.sock"
    held = Held(ssh_argv(address, local), folder / "ssh.log")
    saved = {name: environ.get(name) for name in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    try:
        _wait_socket(held, local, folder / "ssh.log", address)
        environ.pop("DOCKER_CONTEXT", None)
        environ["DOCKER_HOST"] = f"unix://{local}"
        tunnel = Tunnel(address, held)
        try:
            yield tunnel
        except ComposeUnavailableError as err:
            if tunnel.lost():
                raise ComposeUnavailableError(
                    f"{err} (the SSH connection to {address} ended)"
                ) from err
            raise
    finally:
        for name, value in saved.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        held.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_socket(held: Held, local: Path, log: Path, address: str) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT + 5
    while not local.exists():
        if not held.alive() or time.monotonic() > deadline:
            said = ""
            with suppress(OSError):
                said = (log.read_text(errors="replace").strip().splitlines() or [""])[-1]
            raise ComposeUnavailableError(
                f"cannot reach the engine at {address} over SSH: {said or 'no connection'}"
            )
        time.sleep(0.02)
