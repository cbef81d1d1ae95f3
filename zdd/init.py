"""`zdd init`: what puts this project behind zdd's managed nginx, for this project's groups
(pure: the project in, text out). The compose side is an override file (compose merges it:
the user's file stays as it is, and `--write` gives a copy to diff); the nginx side is a
complete config with one upstream per group, named after its base, on the base's port."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zdd.errors import UsageError
from zdd.project import (
    Project,
    Reset,
    dump_yaml,
    is_number,
    networks_of,
    port_entries,
    published_ports,
    service_port,
)

OVERRIDE = "docker-compose.zdd.yml"
NGINX = "zdd-nginx.conf"
NGINX_TARGET = "/etc/nginx/nginx.conf"
NGINX_IMAGES = ("nginx", "nginx-base")  # nginx itself (nginx-base: the offline stand-in)
RESET_SINCE = (2, 24)  # compose's `!reset`, which removes the app's ports in the override


@dataclass(frozen=True)
class Setup:
    """The files `zdd init` proposes, and what to run with them."""

    override: str  # a compose file merged after the user's
    nginx: str  # the proxy's nginx.conf
    usage: str  # one line: how to deploy with them
    switch: str = ""  # one line: the one-time switch of a running stack to these files


def setup(project: Project, proxy_service: str, nginx_image: str = "nginx:1.27") -> Setup:
    """The override and nginx config for `project`, its proxy being `proxy_service`."""
    members = {g.base: g.siblings for g in project.groups}
    members.update({name: (name,) for name in project.singles((), proxy_service)})
    if not members:
        raise UsageError("no sibling group and no service that builds: nothing to route")
    ports = {base: service_port(project.services[m[0]].config) for base, m in members.items()}
    if proxy_service not in project.services:
        return _take_over(project, proxy_service, members, ports, nginx_image)
    proxy = project.services[proxy_service].config
    built = "build" in proxy
    if built and project.services[proxy_service].evidence.family not in NGINX_IMAGES:
        raise UsageError(
            f"{proxy_service} builds its own image, not FROM nginx: zdd init cannot tell what "
            "it serves; add zdd's upstreams by hand (README: Put zdd in front of your own stack)"
        )
    services: dict[str, Any] = {proxy_service: _proxy(proxy, project.legacy, nginx_image)}
    pools = _pools(project, members, proxy, proxy_service, services)
    override: dict[str, Any] = {"services": services}
    flags = "--proxy nginx --proxy-service " + proxy_service if project.legacy else ""
    if project.legacy:  # a v1-format file has no top-level keys but services
        override = services
    else:
        override = {"x-zdd": {"proxy": "nginx", "proxy_service": proxy_service}, **override}
    files = " ".join(f"-f {path.name}" for path in project.files)
    compose = _compose(project)
    header = (
        f"# Written by `zdd init` for project {project.name}: zdd's managed nginx in front of "
        f"{', '.join(ports)}.\n# Merged after your own file(s): zdd deploy {files} "
        f"-f {OVERRIDE}{' ' + flags if flags else ''}\n"
    )
    return Setup(
        override=header + dump_yaml(override),
        nginx=_nginx(ports, pools),
        usage=f"zdd deploy {files} -f {OVERRIDE}{' ' + flags if flags else ''}",
        switch=(
            "a proxy that runs now reads zdd's config once recreated: "
            f"`{compose} up -d --no-deps {proxy_service}` (a break until "
            "zdd deploy or zdd heal renders its upstream; zdd deploy refuses until then)"
        ),
    )


def _take_over(
    project: Project,
    proxy_service: str,
    members: Mapping[str, tuple[str, ...]],
    ports: Mapping[str, int],
    nginx_image: str,
) -> Setup:
    """No proxy in the project, an app that publishes its own host port: zdd's nginx takes the
    port over (the app's `ports` reset, its container port exposed), so that a new container
    can start beside the old one."""
    published = {
        name: [str(port) for port in published_ports(project.services[name].config)]
        for names in members.values()
        for name in names
        if published_ports(project.services[name].config)
    }
    if not published:
        known = ", ".join(project.services) or "none"
        raise UsageError(
            f"no service {proxy_service!r} to put zdd's nginx in, and no app publishes a host "
            f"port for it to take over (--proxy-service NAME; services: {known})"
        )
    version = project.cli.binary.version if project.cli else ""
    if project.legacy or _older(version, RESET_SINCE):
        name, taken = next(iter(published.items()))
        why = (
            "a v1-format file has no `!reset` to remove a port in an override"
            if project.legacy
            else f"compose {version or '(unknown version)'} cannot remove a port in an "
            "override (`!reset`, compose 2.24+)"
        )
        raise UsageError(
            f"{name} publishes host port {', '.join(taken)} itself, and {why}: in your file, "
            f'replace {name}\'s `ports` with `expose: ["{ports[_base_of(members, name)]}"]`, '
            f"add a service `{proxy_service}` (image nginx) that publishes {', '.join(taken)}, "
            "then run zdd init again"
        )
    services: dict[str, Any] = {}
    proxy_ports: list[dict[str, Any]] = []
    listens: dict[int, str] = {}  # the port nginx listens on (the published one) -> group
    networks: set[str] = set()
    for base, names in members.items():
        for name in names:
            config = project.services[name].config
            networks |= networks_of(config)
            if name not in published:
                continue
            services[name] = {"ports": Reset(), "expose": [str(ports[base])]}
            for address, port in _taken(name, config, ports[base]):
                if port in listens:
                    raise UsageError(
                        f"{name} and {listens[port]} both publish port {port}: zdd's nginx "
                        "listens on each published port for one app; publish them apart"
                    )
                listens[port] = base
                entry = {"target": port, "published": str(port), "protocol": "tcp"}
                proxy_ports.append({"host_ip": address, **entry} if address else entry)
    proxy: dict[str, Any] = {
        "image": "${ZDD_NGINX_IMAGE:-" + nginx_image + "}",
        "command": ["nginx", "-g", "daemon off;"],
        "stop_signal": "SIGQUIT",  # nginx's graceful stop
        "restart": "unless-stopped",
        "ports": proxy_ports,
        "volumes": [f"./{NGINX}:{NGINX_TARGET}:ro"],
        "tmpfs": ["/etc/nginx/zdd"],
    }
    if networks - {"default"}:
        proxy["networks"] = sorted(networks)
    pools = _pools(project, members, proxy, proxy_service, services)
    override = {
        "x-zdd": {"proxy": "nginx", "proxy_service": proxy_service},
        "services": {proxy_service: proxy, **services},
    }
    files = " ".join(f"-f {path.name}" for path in project.files)
    compose = _compose(project)
    header = (
        f"# Written by `zdd init` for project {project.name}: zdd's nginx takes over the host "
        f"port(s) of {', '.join(published)}.\n# Merged after your own file(s): zdd deploy "
        f"{files} -f {OVERRIDE}\n"
    )
    apps = " ".join(published)
    return Setup(
        override=header + dump_yaml(override),
        nginx=_nginx(dict(ports), pools, listens),
        usage=f"zdd deploy {files} -f {OVERRIDE}",
        switch=(
            f"switch once: `{compose} up -d --no-deps {apps} && {compose} up -d --no-deps "
            f"{proxy_service}` (the port moves from {apps} to zdd's nginx: a break of a second "
            "or two)"
        ),
    )


def _pools(
    project: Project,
    members: Mapping[str, tuple[str, ...]],
    proxy: Mapping[str, Any],
    proxy_service: str,
    services: dict[str, Any],
) -> set[str]:
    """Give each member the alias `<base>-pool` on the network it shares with the proxy (in
    `services`, the override's); the groups that got one (their nginx fallback)."""
    pools = set()
    for base, names in members.items():
        for name in names:
            network = _shared(project.services[name].config, proxy, name, proxy_service)
            if network is not None:
                services.setdefault(name, {})["networks"] = {network: {"aliases": [f"{base}-pool"]}}
                pools.add(base)
    return pools


def _compose(project: Project) -> str:
    """The compose command line that reads the project with the override: the project's own
    flags (its files, -p, --project-directory, --env-file), as zdd runs compose."""
    override = project.files[0].parent / OVERRIDE
    if project.cli is None or project.legacy:  # a v1-format file: compose v2 reads a translation
        files = " ".join(f"-f {path.name}" for path in project.files)
        command = "docker-compose" if project.legacy else "docker compose"
        return f"{command} {files} -f {OVERRIDE}"
    return shlex.join([*project.cli.base(), "-f", str(override)])


def _older(version: str, since: tuple[int, int]) -> bool:
    numbers = [int(part) for part in re.findall(r"\d+", version)[:2]]
    return len(numbers) < 2 or (numbers[0], numbers[1]) < since


def _base_of(members: Mapping[str, tuple[str, ...]], name: str) -> str:
    return next(base for base, names in members.items() if name in names)


def _taken(name: str, config: Mapping[str, Any], port: int) -> list[tuple[str, int]]:
    """The (host address, host port) pairs zdd's nginx takes over from the app: each entry
    of its `ports` that publishes one TCP host port for the port it serves on; refused for any
    other entry (UDP, a range, another container port), which nginx cannot carry for it."""
    taken = []
    for entry in port_entries(config):
        if entry.host == "":  # a container port alone: a random host port, nothing to take
            continue
        if entry.protocol != "tcp" or not is_number(entry.host) or entry.target != str(port):
            raise UsageError(
                f"{name} publishes {entry.written!r}: zdd init takes over one TCP host port "
                f"per app, for the port it serves on ({port}); publish only that one, or move "
                "the others to a proxy of yours"
            )
        taken.append((entry.address, int(entry.host)))
    return taken


def _proxy(config: Mapping[str, Any], legacy: bool, nginx_image: str) -> dict[str, Any]:
    """The proxy's additions: zdd's nginx.conf, the tmpfs zdd renders into; an image that is
    not nginx itself (nginx-proxy, Traefik) is replaced by nginx."""
    added: dict[str, Any] = {"volumes": [f"./{NGINX}:{NGINX_TARGET}:ro"]}
    if not legacy:  # the v1 format has no tmpfs: a restarted proxy keeps zdd's last render
        added["tmpfs"] = ["/etc/nginx/zdd"]  # zdd's rendered upstreams: gone with a restart
    image = str(config.get("image") or "")
    if "build" in config:  # built FROM nginx (setup checked): zdd's nginx.conf over its own
        return added
    if image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0] not in NGINX_IMAGES:
        # the v1 format has no `${VAR:-default}`: the image is written as it is
        added["image"] = nginx_image if legacy else "${ZDD_NGINX_IMAGE:-" + nginx_image + "}"
        added["command"] = ["nginx", "-g", "daemon off;"]
    return added


def _shared(
    config: Mapping[str, Any], proxy: Mapping[str, Any], name: str, proxy_name: str
) -> str | None:
    """The network the proxy reaches the service on (the first they share); None on Docker's
    default bridge (a v1-format file), which has no aliases: zdd routes by address there."""
    if config.get("network_mode") == proxy.get("network_mode") == "bridge":
        return None
    shared = sorted(networks_of(config) & networks_of(proxy))
    if not shared:
        raise UsageError(f"{proxy_name} and {name} share no network: nginx could not reach it")
    return shared[0]


def _fallback(base: str, pools: set[str]) -> str:
    return (
        f"error_page 502 = @{base}_unrendered;" if base in pools else "# no alias to fall back on"
    )


def _nginx(ports: dict[str, int], pools: set[str], listens: dict[int, str] | None = None) -> str:
    """zdd's nginx.conf: an upstream per group; a server per port it listens on (`listens`:
    port -> group; by default 80 for the first group, the others commented)."""
    upstreams = "".join(
        f"""
    upstream {base} {{
        server 127.0.0.1:9 down;               # nginx refuses an empty upstream block
        include /etc/nginx/zdd/{base}/*.conf;   # rendered by zdd
    }}
"""
        for base in ports
    )
    first = next(iter(ports))
    servers = listens or {80: first}
    others = "".join(
        f"        # location /{b}/ {{ proxy_pass http://{b}; }}\n"
        for b in ports
        if b not in servers.values()
    )
    blocks = "".join(
        _server(port, base, ports[base], pools, others if index == 0 else "")
        for index, (port, base) in enumerate(servers.items())
    )
    return f"""# Written by `zdd init`: zdd renders /etc/nginx/zdd/<base>/servers.conf inside the
# proxy and reloads nginx; until it has, each group is served through its network alias.
worker_processes auto;
pid /tmp/nginx.pid;
events {{ worker_connections 1024; }}

http {{
    resolver 127.0.0.11 valid=1s ipv6=off;   # Docker's DNS, for the fallbacks
    # zdd's error budget: each request's server, status and time, logged only while zdd
    # watches a new container (README: The error budget)
    log_format zdd '$msec $upstream_addr $upstream_status $upstream_response_time';
    map $host $zdd_window {{ include /etc/nginx/zdd/window*.map; }}
    access_log /tmp/zdd-traffic.log zdd if=$zdd_window;
    access_log /var/log/nginx/access.log;     # nginx's own log, as without zdd's line
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}   # WebSockets pass
{upstreams}{blocks}}}
"""


def _server(listen: int, base: str, port: int, pools: set[str], others: str) -> str:
    fallback = (
        f"""
        location @{base}_unrendered {{
            if ($upstream_addr != "{base}") {{ return 502; }}   # only when nothing is rendered
            set ${base.replace("-", "_")}_pool http://{base}-pool:{port};
            proxy_pass ${base.replace("-", "_")}_pool;
        }}
"""
        if base in pools
        else ""
    )
    return f"""
    server {{
        listen {listen};
        location / {{
            proxy_pass http://{base};
            {_fallback(base, pools)}
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
        }}
{others}{fallback}    }}
"""
