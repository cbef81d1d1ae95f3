"""Managed nginx: zdd renders each group's upstream servers and reloads nginx gracefully.

The user's nginx config holds, per group (base service `app` here):

    upstream app {
        server 127.0.0.1:9 down;               # nginx refuses an empty upstream
        include /etc/nginx/zdd/app/*.conf;     # zdd's servers; matches nothing at first
    }

zdd writes `/etc/nginx/zdd/<base>/servers.conf` inside the proxy container and applies it
with a script that tests, reloads and waits for the old workers to finish, run in one shell
(`docker exec -i PROXY sh -s`) kept open for the whole command. Every command starts by
reconciling that file with the engine; a proxy that stops mid-deploy is started again and
re-rendered. An admission window reads the requests nginx logs for zdd (nginx_log.py).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from zdd.compose import ComposeCli
from zdd.containers import Container, by_service, project_containers, readiness
from zdd.errors import ComposeCommandError, DeployError, UsageError
from zdd.health import wait_until
from zdd.ports import CommandRunner, ScriptShell
from zdd.project import Project, service_port
from zdd.proxy.address import shared_address
from zdd.proxy.nginx_files import (
    APPLY_SCRIPT,
    LOGS_FOR_ZDD,
    SHOW_CONFIG,
    TRAFFIC_LOG,
    UPSTREAM_DIR,
    WINDOW_MAP,
    Connections,
    Window,
    includes,
    proc_address,
    read_files,
    read_script,
    rendered_siblings,
    servers_text,
    upstream_file,
)
from zdd.runner import ENDED
from zdd.traffic import PROXY_SOURCE, Sample

TICK = 0.05  # the apply script's poll interval, seconds
REVIVALS = 3  # tries to bring a proxy that stopped mid-command back


@dataclass
class NginxRotation:
    """Keeps each group's upstream list in the proxy container in line with the rollout."""

    runner: CommandRunner
    cli: ComposeCli
    project: Project
    proxy_service: str
    drain_timeout: float
    warn: Callable[[str], None]
    singles: Sequence[str] = ()  # services without siblings: their upstream is their containers
    start_first: Sequence[str] = ()  # the singles, and the siblings under --order start-first
    # base (or single service) -> sibling (or a single's container name) -> address
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    proxy: Container | None = None
    shell: ScriptShell | None = None  # in the proxy container, opened by sync()
    stale: set[str] = field(default_factory=set)  # ids never admitted while they run
    beside: dict[str, str] = field(default_factory=dict)  # sibling -> its start-first new one
    logs: bool = False  # the running nginx logs for zdd (LOGS_FOR_ZDD in `nginx -T`)
    window: Window | None = None  # the admission window open now
    counted: dict[str, Connections | None] = field(default_factory=dict)  # unit -> last drain

    def __post_init__(self) -> None:
        if self.proxy_service not in self.project.services:
            name = f"{self.proxy_service!r} in {self.project.name}"
            raise UsageError(f"--proxy nginx: no service {name}; name it with --proxy-service")
        # each upstream: a group's base and its siblings, or a single service and itself
        self.units = {g.base: g.siblings for g in self.project.groups}
        self.units |= {s: (s,) for s in self.singles}
        self.base_of = {s: base for base, siblings in self.units.items() for s in siblings}
        self.ports = {
            base: service_port(self.project.services[siblings[0]].config)
            for base, siblings in self.units.items()
        }

    def sync(self, found: Sequence[Container]) -> bool:
        """Start the proxy if needed, open the shell in it, then reconcile every group's
        upstream with the engine: each ready sibling in rotation, nothing else. Whether the
        proxy was changed (started, or an upstream re-rendered)."""
        proxy = [c for c in by_service(found).get(self.proxy_service, []) if c.running]
        started = not proxy
        if started:
            self.runner.run(self.cli.up(self.proxy_service, recreate=False))
            proxy = self._wait_proxy()
        self._use(proxy[0])
        self._check_includes()
        return self.reconcile(found) or started

    def _check_includes(self) -> None:
        """Refuse (exit 2, nothing changed) a running nginx whose config does not include an
        upstream zdd renders: every drain and admit would change a file it never reads, while
        zdd said it controlled the routing (a proxy started before `zdd init` added them)."""
        assert self.proxy is not None
        shown = self._run(SHOW_CONFIG)
        if "# configuration file" not in shown:
            return  # no nginx -T to read: nothing to tell
        self.logs = bool(LOGS_FOR_ZDD.search(shown))
        if f"# configuration file {WINDOW_MAP}:" in shown:  # a zdd died with a window open
            self._run(f"rm -f {WINDOW_MAP} && nginx -s reload && : > {TRAFFIC_LOG}")
        for base in self.units:
            if not includes(shown, base):
                recreate = shlex.join(self.cli.up(self.proxy_service))
                raise UsageError(
                    f"proxy {self.proxy.name} runs an nginx config without zdd's upstream for "
                    f"{base} (`include {UPSTREAM_DIR}/{base}/*.conf;`): zdd could not drain or "
                    "admit anything there; nothing was changed. A proxy started before `zdd "
                    f"init` reads the new config once recreated: `{recreate}` (a short break), "
                    "or add the include (README: Put zdd in front of your own stack)"
                )

    def reconcile(self, found: Sequence[Container]) -> bool:
        """Render each group with its ready siblings (a `starting` one runs its healthcheck
        command now); say what changed, and whether anything did."""
        changed = False
        self.stale -= {c.id for c in found if not c.running}  # stopped: stale no more
        self.stale &= {c.id for c in found}
        containers = by_service(found)
        checks = {
            base: [
                (c, readiness(self.runner, c))
                for sibling in siblings
                for c in containers.get(sibling, [])
                if c.running and c.id not in self.stale
            ]
            for base, siblings in self.units.items()
        }
        current = self._read_rendered()
        for base in self.units:
            members: dict[str, str] = {}
            for container, ready in checks[base]:
                if ready():
                    members.setdefault(self._member(container), self._address(base, container))
            self.members[base] = members
            text = current.get(base)
            if text == servers_text(members):
                continue
            before = rendered_siblings(text or "")
            self._apply(base, drain=bool(before - set(members)))
            self._say_healed(base, text, before, set(members))
            changed = True
        return changed

    def _member(self, container: Container) -> str:
        """A container's name in its upstream: its sibling, or (a single's) its own name."""
        return container.name if container.service in self.singles else container.service

    def _say_healed(self, base: str, text: str | None, before: set[str], now: set[str]) -> None:
        if text is None:
            names = ", ".join(sorted(now)) or "nothing (no sibling is ready)"
            self.warn(f"{base}: the proxy had no upstream from zdd (new proxy?): rendered {names}")
            return
        for sibling in sorted(now - before):
            self.warn(f"{base}: {sibling} was ready but out of rotation: admitted")
        for sibling in sorted(before - now):
            self.warn(f"{base}: {sibling} is not ready: taken out of rotation")
        if before == now:
            self.warn(f"{base}: addresses changed (containers recreated outside zdd): re-rendered")

    def serving(self, sibling: str) -> bool | None:
        """Whether the sibling (a single: any of its containers) is in its upstream now."""
        members = self.members.get(self.base_of[sibling], {})
        return bool(members) if sibling in self.singles else sibling in members

    def check_order(self, siblings: Sequence[str]) -> None:
        """Replacing the siblings in this order never drains the last one of a group in
        rotation (each replaced sibling counts as admitted again); else UsageError."""
        serving = {base: set(members) for base, members in self.members.items()}
        for sibling in siblings:
            if sibling in self.start_first or sibling in self.singles:
                continue  # start-first: the new ones are admitted before the old are drained
            base = self.base_of[sibling]
            if serving[base] != {sibling}:
                serving[base].add(sibling)
                continue
            group = next(g for g in self.project.groups if g.base == base)
            others = [s for s in group.siblings if s != sibling]
            why = (
                f"{', '.join(others)} not ready"
                if others
                else f"add a second sibling (`extends: {base}`) for zero downtime"
            )
            raise UsageError(
                f"{sibling} is the only sibling of {base} in rotation ({why}): stopping it "
                "would fail every request, and zdd never drains the last one; nothing was changed"
            )

    def drain(self, sibling: str) -> None:
        """Render without the sibling, reload, wait for the old workers' requests. Never the
        last sibling in rotation: that would fail every request."""
        base = self.base_of[sibling]
        members = self.members.setdefault(base, {})
        if sibling not in members:
            return
        if len(members) == 1:
            raise DeployError(
                f"{sibling} is the only sibling of {base} in rotation: zdd does not drain it"
            )
        address = members.pop(sibling)
        self.counted[sibling] = self._apply(base, drain=True, count=[address])

    def admit(self, sibling: str, container: Container) -> None:
        """Render with the new container, reload, confirm the proxy reaches it."""
        base = self.base_of[sibling]
        address = self._address(base, container)
        self.members.setdefault(base, {})[sibling] = address
        self._apply(base, confirm=address)

    def hold(self, service: str, containers: Sequence[Container]) -> None:
        """Nothing to hold: a container is in the upstream only once zdd admits it."""

    def route(
        self, service: str, admit: Sequence[Container] = (), drain: Sequence[Container] = ()
    ) -> None:
        """Start-first: the unit's `admit` containers in its upstream and its `drain` ones out,
        in one reload; the ones added are confirmed through the proxy, and the old workers'
        requests end first. A sibling's new container serves under its own name beside the
        old one, then under the sibling's once the old one is out."""
        base = self.base_of[service]
        before = self.members.get(base, {})
        members = dict(before)
        for container in drain:
            name = container.name
            members.pop(name if name in members else self._member(container), None)
        added: dict[str, str] = {}
        for container in admit:
            key = self._member(container)
            if key in members:  # a sibling's old container still serves under its name
                key = self.beside[service] = container.name
            added[key] = self._address(base, container)
        members |= added
        beside = self.beside.pop(service, None)
        if beside in members and service not in members:  # the old one is out: rename
            members[service] = members.pop(beside)
        elif beside in members:
            self.beside[service] = beside
        if not members:
            raise DeployError(f"zdd never takes the last container of {service} out of rotation")
        self.members[base] = members
        drained = [before[key] for key in set(before) - set(members)]
        found = self._apply(base, drain=bool(drained), confirm=" ".join(added.values()),
                            count=drained)  # fmt: skip
        if drained:
            self.counted[service] = found

    def observes(self) -> bool:
        return self.logs

    def source(self) -> str:
        return PROXY_SOURCE if self.logs else ""

    def open_window(self, service: str, containers: Sequence[Container]) -> bool:
        """Start the `zdd` access log (one reload), the unit's new containers being
        `containers`; whether this nginx logs for zdd at all."""
        if not self.logs:
            return False
        base = self.base_of[service]
        new = {self._address(base, c) for c in containers}
        self.window = Window(base, new, set(self.members.get(base, {}).values()) - new)
        self._apply(base, window="on")
        return True

    def traffic(self) -> tuple[Sample, Sample]:
        """The tries the window's new containers and the group's others got so far."""
        if self.window is None:
            return Sample(), Sample()
        return self.window.take(self._run(self.window.read_script()))

    def close_window(self) -> None:
        """Stop the `zdd` access log (one reload) and empty it."""
        if self.window is not None:
            base, self.window = self.window.base, None
            self._apply(base, window="off")

    def _use(self, proxy: Container) -> None:
        """Work with this proxy container, through a shell opened in it."""
        if self.shell is not None:
            self.shell.close(wait=0)
        self.proxy = proxy
        self.shell = self.runner.shell(["docker", "exec", "-i", proxy.id, "sh", "-s"])
        self.shell.open()

    def _wait_proxy(self) -> list[Container]:
        def running() -> list[Container] | None:  # and attached to its networks
            found = project_containers(self.runner, self.project.name, self.proxy_service)
            return [c for c in found if c.running and c.networks] or None

        proxy = wait_until(running, 30)
        if not proxy:
            raise DeployError(f"proxy service {self.proxy_service!r} is not running")
        return proxy

    def _address(self, base: str, container: Container) -> str:
        """The container's address and port on a network it shares with the proxy (the proxy
        read again on the way, if it had to be: proxy/address.py)."""
        assert self.proxy is not None
        ip, self.proxy = shared_address(self.runner, container, self.proxy)
        return f"{ip}:{self.ports[base]}"

    def _read_rendered(self) -> dict[str, str | None]:
        """Each group's upstream file as the proxy has it (None: there is none)."""
        paths = {base: upstream_file(base) for base in self.units}
        return read_files(paths, self._run(read_script(list(paths.values()))))

    def _apply(
        self,
        base: str,
        *,
        drain: bool = False,
        confirm: str = "",
        window: str = "",
        count: Sequence[str] = (),
    ) -> Connections | None:
        """Render and reload. Admitting (`confirm`) does not wait for the old workers: they
        finish their requests to the siblings that stay in rotation. `window`: on, off.
        `count`: the drained servers, whose connections from nginx are counted."""
        assert self.proxy is not None
        ticks = max(1, round(self.drain_timeout / TICK)) if drain else 0
        servers = servers_text(self.members[base])
        peers = " ".join(filter(None, map(proc_address, count)))
        arguments = [upstream_file(base), servers, str(ticks), confirm, window, peers]
        script = f"{shlex.join(['set', '--', *arguments])}\n{APPLY_SCRIPT}"
        try:
            # the confirm: 10 tries of at most 2 s and a 1 s pause, per address
            output = self._run(script, timeout=self.drain_timeout + 30 + 30 * len(confirm.split()))
        except ComposeCommandError as err:
            what = {
                3: "nginx -t refused the rendered upstream",
                5: "nginx -s reload failed",
            }.get(err.returncode, str(err))
            detail = (err.stderr.strip().splitlines() or [""])[-1]
            raise DeployError(f"proxy {self.proxy.name}: {what}: {detail}") from err
        found = None
        for line in output.splitlines():
            word, _, value = line.partition(" ")
            if word == "drain-timeout":
                self.warn(f"{base}: {value} nginx worker(s) still busy after --drain-timeout")
            code, _, address = value.partition(" ")
            if word == "confirm" and code in ("000", ""):
                raise DeployError(f"proxy {self.proxy.name} gets no HTTP answer from {address}")
            if word == "connections" and f"{code} {address}".replace(" ", "").isdigit():
                found = Connections(int(code), int(address))
        return found

    def drained(self, service: str) -> Connections | None:
        """nginx's connections to what the unit's last drain took out (None: not counted)."""
        return self.counted.pop(service, None)

    def _run(self, script: str, timeout: float = 30) -> str:
        """Run a script in the proxy. If its shell ended because the proxy stopped (killed,
        crashed, recreated), start the proxy again, re-render every group, and run it again."""
        assert self.shell is not None  # sync() ran
        try:
            return self.shell.run(script, timeout=timeout)
        except ComposeCommandError as err:
            if err.returncode != ENDED:
                raise
        for attempt in range(REVIVALS):  # a dying proxy may still look `running` at first
            try:
                self._revive()
                break
            except ComposeCommandError as err:
                if err.returncode != ENDED or attempt == REVIVALS - 1:
                    raise
                time.sleep(0.5)
        assert self.shell is not None
        return self.shell.run(script, timeout=timeout)

    def _revive(self) -> None:
        """The shell in the proxy ended: use the running proxy container, or start the
        stopped one (or create it), then render every group zdd knows again."""
        assert self.proxy is not None
        found = project_containers(self.runner, self.project.name, self.proxy_service)
        running = [c for c in found if c.running]
        if not running:
            stopped = [c.id for c in found]
            if stopped:
                self.runner.run(["docker", "start", "--", stopped[0]])
            else:
                self.runner.run(self.cli.up(self.proxy_service, recreate=False))
            running = self._wait_proxy()
            self.warn(f"the proxy {self.proxy.name} had stopped: started it again")
        self._use(running[0])
        assert self.shell is not None
        for base, members in self.members.items():
            arguments = [upstream_file(base), servers_text(members), "0", "", ""]
            self.shell.run(f"{shlex.join(['set', '--', *arguments])}\n{APPLY_SCRIPT}", 30)
