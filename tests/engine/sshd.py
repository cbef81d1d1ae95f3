"""An sshd on 127.0.0.1 standing in for a remote Docker host (the same engine, reached over
SSH), with a key made here: for the remote-engine tests and bench/remote.py.

ssh reads the user's config from the passwd entry's home, not $HOME: the `zdd-test-engine`
host block is added to that file between markers while the sshd runs, and removed after."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST_ALIAS = "zdd-test-engine"  # the ssh_config host name DOCKER_HOST and the context use
CONTEXT = "zddt-ssh"
MARKERS = ("# >>> zdd engine tests >>>\n", "# <<< zdd engine tests <<<\n")


@dataclass
class SshEngine:
    """A running sshd and a HOME whose ssh config reaches it as `zdd-test-engine`."""

    home: Path
    process: subprocess.Popen[bytes]
    ssh_config: Path

    def env(self) -> dict[str, str]:
        """The environment of a user whose engine is this host over SSH (DOCKER_HOST)."""
        return {"HOME": str(self.home), "DOCKER_HOST": f"ssh://{HOST_ALIAS}"}

    def context_env(self) -> dict[str, str]:
        """The same user with the engine named by a docker context instead (`--context`)."""
        return {"HOME": str(self.home), "DOCKER_HOST": ""}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        _write_block(self.ssh_config, "")


def _write_block(path: Path, block: str) -> None:
    """The user's ssh config with our marked block replaced by `block` (removed when empty)."""
    text = path.read_text() if path.exists() else ""
    start, end = MARKERS
    if start in text and end in text:
        text = text[: text.index(start)] + text[text.index(end) + len(end) :]
    if block:
        text = f"{start}{block}{end}" + text  # first: ssh takes the first value it meets
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sshd(folder: Path) -> SshEngine:
    """sshd on a free loopback port, root by key only; HOME/.ssh/config and a docker context
    for it under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "user_key"):
        if not (folder / name).exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
                check=True,
            )
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nStrictModes no\n"
        "UsePAM no\nAllowStreamLocalForwarding yes\nMaxStartups 100\nMaxSessions 100\n"
    )
    ssh_config = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"
    _write_block(
        ssh_config,
        f"Host {HOST_ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
        f"  IdentityFile {folder / 'user_key'}\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    with (folder / "sshd.log").open("ab") as log:  # sshd keeps its own copy of the fd
        process = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()[-500:]}")
    env = {**os.environ, "HOME": str(home)}
    env.pop("DOCKER_HOST", None)
    subprocess.run(
        ["docker", "context", "create", CONTEXT, "--docker", f"host=ssh://{HOST_ALIAS}"],
        check=False,
        capture_output=True,
        env=env,
    )
    return SshEngine(home, process, ssh_config)
