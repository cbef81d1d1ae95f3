"""Each service key of compose's `config` as Swarm's stack file takes it (pure): kept as it
is, dropped (said where something is lost), refused with the fix, or converted by one function
per key that refuses, in one line, what Swarm cannot take."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from zdd.errors import UsageError
from zdd.project import is_number, parse_duration

# Keys Swarm reads as compose writes them (after `config`).
AS_IS = frozenset(
    """command entrypoint user working_dir hostname init stop_signal cap_add cap_drop read_only
    tty stdin_open dns dns_search sysctls ulimits logging labels tmpfs image
    stop_grace_period""".split()  # noqa: SIM905 - a list of words reads best as words
)
# Keys zdd takes care of, or that mean nothing to Swarm; `warn` says what is lost.
DROPPED = {
    "build": "",
    "profiles": "",
    "pull_policy": "",
    "extends": "",
    "expose": "",
    "scale": "",
    "x-zdd": "",
    "restart": "",  # becomes deploy.restart_policy
    "container_name": "Swarm names its tasks itself: container_name {value!r} is ignored",
    "depends_on": "Swarm starts a stack's services in any order: depends_on is ignored",
}
FIXES = {
    "privileged": "Swarm services cannot run privileged",
    "devices": "Swarm services cannot map devices",
    "network_mode": "Swarm services join overlay networks; remove network_mode",
    "pid": "Swarm services cannot share the host's pid namespace",
    "ipc": "Swarm services cannot share an ipc namespace",
    "links": "use the service name on a shared network instead of links",
    "mem_limit": "use deploy.resources.limits.memory",
    "cpus": "use deploy.resources.limits.cpus",
    "secrets": "not carried to Swarm by zdd yet; keep this project on compose",
    "configs": "not carried to Swarm by zdd yet; keep this project on compose",
}
_PORT = re.compile(
    r"(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)??(?:(?P<pub>\d+):)?(?P<target>\d+)(?:/(?P<proto>tcp|udp))?"
)


def _environment(_name: str, value: Any, _configs: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    pairs = (str(item).partition("=") for item in value)
    return {k: v for k, sep, v in pairs if sep}


def _healthcheck(name: str, value: Any, _configs: Any) -> dict[str, Any]:
    check = {k: v for k, v in dict(value).items() if k in ("test", "retries", "disable")}
    for key in ("interval", "timeout", "start_period"):
        if value.get(key) is not None:
            check[key] = go_duration(parse_duration(value[key]))
    return check


def go_duration(seconds: float) -> str:
    """Seconds as a duration the stack file takes (milliseconds, in Go's syntax)."""
    return f"{round(seconds * 1000)}ms"


def _networks(_name: str, value: Any, _configs: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {str(n): None for n in value}
    out: dict[str, Any] = {}
    for network, attach in value.items():
        aliases = (attach or {}).get("aliases")
        out[str(network)] = {"aliases": list(aliases)} if aliases else None
    return out


def convert_ports(name: str, value: Any, _configs: Any = None) -> list[dict[str, Any]]:
    """The published ports, in host mode (a target alone is reachable on the networks)."""
    out = []
    for entry in value:
        port = entry if isinstance(entry, Mapping) else _short_port(name, str(entry))
        if port.get("published") in (None, ""):
            continue  # a target alone is only reachable on the service's networks
        host_ip = str(port.get("host_ip") or "")
        if host_ip not in ("", "0.0.0.0", "::"):
            raise UsageError(
                f"service {name}: Swarm publishes a port on every interface, not on "
                f'{host_ip} only; publish it without an address (e.g. "8000:80") '
                "behind a firewall, or keep this project on compose"
            )
        published = str(port["published"])
        if not is_number(published):
            raise UsageError(f"service {name}: Swarm cannot publish the port range {published}")
        out.append(
            {
                "target": int(port["target"]),
                "published": int(published),
                "protocol": str(port.get("protocol") or "tcp"),
                "mode": "host",  # no ingress mesh is assumed (see README)
            }
        )
    return out


def _short_port(name: str, text: str) -> dict[str, Any]:
    match = _PORT.fullmatch(text)
    if not match:
        raise UsageError(f"service {name}: Swarm cannot publish {text!r} (one port per entry)")
    return {
        "host_ip": (match["ip"] or "").strip("[]"),
        "published": match["pub"],
        "target": match["target"],
        "protocol": match["proto"] or "tcp",
    }


def _volumes(name: str, value: Any, configs: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in value:
        mount = entry if isinstance(entry, Mapping) else _short_volume(str(entry))
        kind = mount.get("type", "volume")
        source, target = mount.get("source"), str(mount["target"])
        read_only = bool(mount.get("read_only"))
        if kind == "bind" and read_only and source and Path(source).is_file():
            configs.setdefault(_config_name(Path(source)), {"file": str(source)})
            continue  # carried as a Swarm config: the same bytes on every node
        if kind == "tmpfs":
            out.append({"type": "tmpfs", "target": target})
        elif kind in ("bind", "volume"):
            mount = {"type": kind, "source": source, "target": target, "read_only": read_only}
            out.append({k: v for k, v in mount.items() if v is not None})  # anonymous: no source
        else:
            raise UsageError(f"service {name}: Swarm cannot mount a {kind!r} volume at {target}")
    return out


def file_configs(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """The Swarm configs a service's read-only file binds become (`configs:` of the service)."""
    found = []
    for entry in config.get("volumes") or []:
        mount = entry if isinstance(entry, Mapping) else _short_volume(str(entry))
        source = mount.get("source")
        bind = mount.get("type", "volume") == "bind" and mount.get("read_only")
        if bind and source and Path(source).is_file():
            found.append({"source": _config_name(Path(source)), "target": str(mount["target"])})
    return found


def _config_name(path: Path) -> str:
    """Swarm configs are immutable: the name carries the content's hash, so a changed file
    is a new config and an update of the services that read it."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    stem = re.sub(r"[^a-zA-Z0-9_.-]+", "-", path.name)[:40]
    return f"zdd-{stem}-{digest}"


def _short_volume(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) == 1:
        return {"type": "volume", "source": None, "target": parts[0]}
    source, target, *mode = parts
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    flags = ",".join(mode).split(",")
    return {"type": kind, "source": source, "target": target, "read_only": "ro" in flags}


def _extra_hosts(_name: str, value: Any, _configs: Any) -> list[str]:
    """`HOST:IP`, the form the stack loader splits (compose v2 writes `HOST=IP`)."""
    pairs = (
        value.items()
        if isinstance(value, Mapping)
        else (re.split(r"[=:]", str(item), maxsplit=1) for item in value)
    )
    return [f"{host}:{address}" for host, address in pairs]


CONVERT: dict[str, Callable[[str, Any, dict[str, dict[str, str]]], Any]] = {
    "extra_hosts": _extra_hosts,
    "environment": _environment,
    "healthcheck": _healthcheck,
    "networks": _networks,
    "ports": convert_ports,
    "volumes": _volumes,
}
