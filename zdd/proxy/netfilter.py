"""A drain behind a proxy zdd does not control (--proxy discovery --drain-image IMAGE).

The proxy finds an old container until it stops, and cannot be told to leave it. So zdd
drains it from the inside: a short-lived helper container of IMAGE (with iptables and ss)
joins the old container's network namespace and refuses every new TCP connection coming in
from outside (a reset, at once), while the connections already open finish. A proxy that
gets a refused connect tries the next container it knows (nginx does, for any method: the
request was never sent). Once no connection from outside is open (or --drain-timeout
passed), zdd stops the container. The health check inside (loopback) still gets through.

The rule lives as long as zdd holds the helper: the helper's shell reads zdd's commands on
its stdin and removes the rule when that closes (zdd done with the container, or zdd gone),
so a container that keeps running after all is never left refusing its clients.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from zdd.containers import Container
from zdd.errors import ComposeCommandError, UsageError
from zdd.ports import CommandRunner, ScriptShell
from zdd.proxy.nginx_files import Connections

RULE = "INPUT ! -i lo -p tcp --syn -j REJECT --reject-with tcp-reset"
# the helper's command: zdd's scripts until its stdin closes, then the rule goes
HELPER = f"sh -s; iptables -D {RULE} 2> /dev/null; ip6tables -D {RULE} 2> /dev/null; exit 0"
REFUSE = f"iptables -I {RULE} && {{ ip6tables -I {RULE} 2> /dev/null || :; }}"
# `OPEN LEFT`: connections from outside to a listening port, when the drain began and when it
# ended (none left, or TICKS tenths of a second passed)
WAIT = r"""
command -v ss > /dev/null || { echo "no ss in the --drain-image to count connections"; exit 127; }
ports=" $(ss -Htln | awk '{n = split($4, a, ":"); printf "%s ", a[n]}')"
count() {
    ss -Htn state established | awk -v ports="$ports" '
        $3 !~ /^(127\.|\[::1\]|\[::ffff:127\.)/ {
            n = split($3, a, ":"); if (index(ports, " " a[n] " ")) c++
        }
        END { print c + 0 }'
}
first=$(count); left=$first; i=0
while [ "$left" -gt 0 ] && [ "$i" -lt TICKS ]; do sleep 0.1; i=$((i + 1)); left=$(count); done
echo "$first $left"
"""


def helper_argv(image: str, container: Container, project: str) -> list[str]:
    """The helper in the container's network namespace, allowed to set its netfilter rules,
    labelled with what it drains (`docker ps --filter label=org.zdd.drains=ID`)."""
    argv = ["docker", "run", "-i", "--rm", "--network", f"container:{container.id}"]
    argv += ["--cap-add", "NET_ADMIN", "--label", "org.zdd.helper=drain"]
    argv += ["--label", f"org.zdd.project={project}", "--label", f"org.zdd.drains={container.id}"]
    return [*argv, "--entrypoint", "sh", image, "-c", HELPER]


@dataclass
class NetfilterDrain:
    """Drains containers from the inside; holds each helper until `release`."""

    runner: CommandRunner
    image: str
    timeout: float  # --drain-timeout: the longest wait for open connections
    project: str = ""  # its helpers are labelled with it
    held: dict[str, list[ScriptShell]] = field(default_factory=dict)  # unit -> its helpers

    def check(self) -> None:
        """Refuse (before any change) an image the engine does not have, or one without
        iptables and ss."""
        fix = "build or pull one with iptables and ss (README: Drain behind a proxy zdd does not "
        fix += "control)"
        try:
            self.runner.run(["docker", "image", "inspect", "--format", "{{.Id}}", "--", self.image])
        except ComposeCommandError:
            raise UsageError(
                f"--drain-image {self.image}: no such image on the engine; {fix}"
            ) from None
        tools = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", self.image]
        try:
            self.runner.run([*tools, "-c", "command -v iptables && command -v ss"])
        except ComposeCommandError:
            raise UsageError(
                f"--drain-image {self.image}: no iptables or no ss in it; {fix}"
            ) from None

    def drain(self, unit: str, containers: Sequence[Container]) -> Connections:
        """Refuse new connections into each container, then wait (all of them within one
        --drain-timeout) until none from outside is open; the count when it began and left."""
        shells = []
        for container in containers:
            shell = self.runner.shell(helper_argv(self.image, container, self.project))
            self.held.setdefault(unit, []).append(shell)
            try:
                shell.run(REFUSE, timeout=60)  # the helper's start: an image to unpack
            except ComposeCommandError as err:
                raise ComposeCommandError(
                    err.argv, err.returncode, f"cannot refuse new connections: {err.stderr}"
                ) from err
            shells.append(shell)
        deadline = time.monotonic() + self.timeout
        opened = left = 0
        for shell in shells:
            ticks = max(0, math.ceil((deadline - time.monotonic()) * 10))
            first, last = shell.run(WAIT.replace("TICKS", str(ticks)), ticks / 10 + 30).split()
            opened, left = opened + int(first), left + int(last)
        return Connections(opened, left)

    def release(self, unit: str) -> None:
        """Done with the unit's drained containers (stopped by now): end their helpers."""
        for shell in self.held.pop(unit, []):
            shell.close()
