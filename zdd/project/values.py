"""A service's values parsed from compose's effective configuration: the port it serves on,
the host ports it publishes, its healthcheck and compose's durations, replicas, networks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zdd.errors import ComposeFileError, UsageError
from zdd.health import healthcheck_budget
from zdd.order import Order

# Go's duration units, as compose takes them (`100us`, `100µs` with either micro sign)
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def is_number(text: str) -> bool:
    """ASCII digits only: `str.isdigit` is true of `³` and `٣` too, which compose refuses."""
    return text.isascii() and text.isdigit()


def service_port(config: Mapping[str, Any]) -> int:
    """The port a sibling listens on: `x-zdd.port`, else `expose`, else the target of `ports`
    (a single string or number counts as a list of one: `expose: "3000"` is port 3000)."""
    settings = config.get("x-zdd") or {}
    if isinstance(settings, dict) and settings.get("port") is not None:
        return _port(settings["port"], "x-zdd: port")
    for key in ("expose", "ports"):
        entries = config.get(key) or []
        for entry in [entries] if isinstance(entries, str | int) else entries:
            if isinstance(entry, dict):
                if entry.get("target") is not None:
                    return _port(entry["target"], f"{key}: target")
                continue
            target = str(entry).split("/", 1)[0].rsplit(":", 1)[-1].split("-", 1)[0]
            if target:  # `³` is no port: one line, not a port zdd guesses elsewhere
                return _port(target, key)
    raise UsageError(
        "cannot tell which port the siblings listen on: add `expose: [PORT]` to the base "
        "service (or `x-zdd: {port: PORT}`)"
    )


def _port(value: Any, where: str) -> int:
    """A TCP port number, or one line saying where it is wrong."""
    text = str(value).strip()
    if not is_number(text) or not 1 <= int(text) <= 65535:
        raise ComposeFileError(f"{where}: a port is a number from 1 to 65535, got {value!r}")
    return int(text)


@dataclass(frozen=True)
class PortEntry:
    """One `ports` entry, in either syntax, by its parts: the host address ("" for every
    one), host port or range ("" for a random one), container port, protocol."""

    address: str
    host: str
    target: str
    protocol: str
    written: Any = field(default=None, compare=False)  # the entry as the file has it


def port_entries(config: Mapping[str, Any]) -> list[PortEntry]:
    """The service's `ports` entries, each split into its parts (a single string or number
    counts as a list of one; compose v1 prints `[::1]:8000:3000` as `::1:8000:3000/tcp`)."""
    entries = config.get("ports") or []
    found = []
    for entry in [entries] if isinstance(entries, str | int) else entries:
        if isinstance(entry, dict):
            address, host = str(entry.get("host_ip") or ""), str(entry.get("published") or "")
            target, protocol = str(entry.get("target", "")), str(entry.get("protocol") or "tcp")
        else:
            text, _, protocol = str(entry).partition("/")
            parts = text.rsplit(":", 2)
            address = parts[0].strip("[]") if len(parts) == 3 else ""
            host, target = (parts[-2] if len(parts) >= 2 else ""), parts[-1]
        found.append(PortEntry(address, host, target, protocol or "tcp", entry))
    return found


ANY_ADDRESS = ("", "0.0.0.0", "::")  # a port published on every address of the host


@dataclass(frozen=True)
class HostPort:
    """A host port (or range) a service publishes, by meaning: `8000`, `0.0.0.0:8000` and the
    long syntax's `published: 8000` are one port; `53/udp` and `53/tcp` are two."""

    address: str  # "" for every address
    first: int
    last: int
    protocol: str = "tcp"

    def clashes(self, other: HostPort) -> bool:
        """Whether both cannot be bound at once on one host."""
        return (
            self.protocol == other.protocol
            and self.first <= other.last
            and other.first <= self.last
            and (
                self.address in ANY_ADDRESS
                or other.address in ANY_ADDRESS
                or self.address == other.address
            )
        )

    def __str__(self) -> str:
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        address = f"[{self.address}]" if ":" in self.address else self.address
        where = f"{address}:" if self.address not in ANY_ADDRESS else ""
        return where + ports + ("" if self.protocol == "tcp" else f"/{self.protocol}")


def published_ports(config: Mapping[str, Any]) -> list[HostPort]:
    """The host ports a service publishes, in either syntax (one that compose would refuse is
    left to compose to say; a container port alone publishes a random one, not listed)."""
    found = []
    for entry in port_entries(config):
        span = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", entry.host)
        if span:
            first = int(span.group(1))
            found.append(
                HostPort(entry.address, first, int(span.group(2) or first), entry.protocol)
            )
    return found


def side_by_side_blockers(config: Mapping[str, Any]) -> list[str]:
    """What keeps two containers of the service from running at once: a fixed
    `container_name`, a fixed host port, the host's network (the new container cannot bind
    the port the old one holds)."""
    name = config.get("container_name")
    found = [f"container_name {name!r}"] if name is not None else []
    if config.get("network_mode") == "host":
        found.append("network_mode: host")
    ports = dict.fromkeys(f"host port {port}" for port in published_ports(config))  # once each
    return found + list(ports)


def healthcheck_disabled(config: Mapping[str, Any]) -> bool:
    """Whether compose turns the image's HEALTHCHECK off (`disable`, or `test: NONE`)."""
    check = config.get("healthcheck")
    return isinstance(check, dict) and (
        bool(check.get("disable")) or check.get("test") in (["NONE"], "NONE")
    )


def healthcheck_of(config: Mapping[str, Any]) -> float | None:
    """The budget a compose healthcheck implies: start_period + interval x retries, + margin."""
    check = config.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable"):
        return None
    test = check.get("test")
    if test in (["NONE"], "NONE") or test is None:
        return None
    interval = parse_duration(check.get("interval", "30s"))
    timeout = parse_duration(check.get("timeout", "30s"))
    start = parse_duration(check.get("start_period", "0s"))
    retries = str(check.get("retries", 3)).strip()
    if not is_number(retries):
        raise UsageError(f"healthcheck: retries must be a whole number, got {retries!r}")
    return healthcheck_budget(interval, timeout, start, int(retries))


def parse_duration(value: Any) -> float:
    """Compose durations (`1m30s`, `500ms`, `10`) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {value!r} (examples: 5s, 1m30s, 500ms)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def replicas(config: Mapping[str, Any]) -> int | str | None:
    """`deploy.replicas`, else `scale`, else None (a text that is no count is returned as is)."""
    deploy = config.get("deploy")
    value = deploy.get("replicas") if isinstance(deploy, dict) else None
    if value is None:
        value = config.get("scale")
    if value is None:
        return None
    text = str(value).strip()
    return int(text) if is_number(text) else text


def update_config(config: Mapping[str, Any], key: str = "update_config") -> Mapping[str, Any]:
    """The service's `deploy.update_config` (or `rollback_config`, for `zdd rollback`):
    compose itself ignores both; zdd honours them on the compose engine."""
    deploy = config.get("deploy")
    found = deploy.get(key) if isinstance(deploy, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def update_order(config: Mapping[str, Any], key: str = "update_config") -> Order | None:
    """`update_config.order` (compose allows only start-first and stop-first)."""
    value = update_config(config, key).get("order")
    return Order(value) if value in tuple(Order) else None


def update_monitor(config: Mapping[str, Any], key: str = "update_config") -> float | None:
    """`update_config.monitor`, in seconds."""
    value = update_config(config, key).get("monitor")
    return None if value is None else parse_duration(value)


FAILURE_ACTIONS = ("pause", "continue", "rollback")


@dataclass(frozen=True)
class UpdatePolicy:
    """How a unit's replicas are replaced and what a failure does (`update_config`)."""

    parallelism: int = 0  # replicas replaced at once (0: all)
    delay: float = 0.0  # seconds between two batches (or two units)
    failure_action: str = "pause"  # pause: stop there; continue; rollback: the earlier ones too
    max_failure_ratio: float = 0.0  # the share of units (or batches) that may fail and go on


def update_policy(config: Mapping[str, Any], key: str = "update_config") -> UpdatePolicy:
    """`parallelism`, `delay`, `failure_action`, `max_failure_ratio`, checked."""
    found = update_config(config, key)
    where = f"deploy.{key}"
    parallelism = found.get("parallelism", 0)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 0:
        raise UsageError(f"{where}.parallelism must be a whole number, got {parallelism!r}")
    action = found.get("failure_action", "pause")
    if action not in FAILURE_ACTIONS:
        raise UsageError(
            f"{where}.failure_action must be pause, continue or rollback, got {action!r}"
        )
    ratio = found.get("max_failure_ratio", 0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise UsageError(f"{where}.max_failure_ratio must be from 0 to 1, got {ratio!r}")
    delay = parse_duration(found.get("delay", 0))
    return UpdatePolicy(parallelism, delay, str(action), float(ratio))


def networks_of(config: Mapping[str, Any]) -> set[str]:
    """The networks a service is on (`network_mode: bridge`: docker's default bridge)."""
    mode = str(config.get("network_mode") or "")
    if mode:
        return {mode} if mode == "bridge" else set()
    networks = config.get("networks")
    if isinstance(networks, Mapping):
        return {str(name) for name in networks}
    if isinstance(networks, Sequence) and not isinstance(networks, str):
        return {str(name) for name in networks}
    return {"default"}
