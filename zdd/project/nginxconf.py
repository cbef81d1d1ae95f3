"""How a proxy in front of the app finds it, read from its real configuration: the nginx files
compose mounts into it or its build context holds. A static nginx (`proxy_pass
http://backend:8000`, an `upstream` of names, no `resolver`) resolves those names once, when it
starts: once the old container is gone it answers 502 until restarted, so it must never be
taken for a proxy that discovers the new one."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

from zdd.project.files import regular_text

MANAGED_INCLUDE = "/etc/nginx/zdd/"  # where zdd renders the upstream of its managed nginx
MAX_FILES = 64  # files looked at per proxy (a build context can be a whole repository)
MAX_VISITS = 512  # directory entries looked at per folder walked
_COMMENT = re.compile(r"#[^\n]*")
_PROXY_PASS = re.compile(r"\b(?:proxy|grpc|fastcgi|uwsgi)_pass\s+([^;]+);")
_UPSTREAM = re.compile(r"\bupstream\s+([^\s{]+)\s*\{([^}]*)\}")
_SERVER = re.compile(r"\bserver\s+([^\s;]+)([^;]*);")
_RESOLVER = re.compile(r"\bresolver\s+([^;]+);")
_VALID = re.compile(r"^valid=(\d+)(ms|s|m|h|d|w|M|y)?$")  # nginx's time syntax
_CONNECT = re.compile(r"\bproxy_connect_timeout\s+(\d+)(ms|s|m|h)?\s*;")
CONNECT_DEFAULT = 60.0  # seconds: nginx's proxy_connect_timeout when none is set
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000,
          "y": 31536000}  # fmt: skip
DOCKER_DNS_TTL = 600.0  # seconds: the TTL of Docker's embedded DNS answers (measured)
_HOST = re.compile(r"^(?:[a-z]+://)?(\[[^\]]*\]|[^/:$]+)")


class Routing(StrEnum):
    """How a proxy reaches the app's containers."""

    MANAGED = "managed"  # includes the upstream zdd renders (--proxy nginx)
    DISCOVERS = "discovers"  # re-resolves names (a resolver and a variable) or watches docker
    STATIC = "static"  # resolves the app's names once, at start or reload
    UNKNOWN = "unknown"  # no config zdd can read


@dataclass(frozen=True)
class ProxyRouting:
    """What zdd found, and where."""

    routing: Routing
    reason: str
    keeps: float = 0.0  # DISCOVERS through a resolver: seconds nginx may keep an old answer
    connect: float = CONNECT_DEFAULT  # the longest proxy_connect_timeout of its config


def classify(texts: Mapping[str, str], names: Iterable[str]) -> ProxyRouting:
    """The routing of an nginx whose config files are `texts` (name -> text), toward the
    project's service names and aliases `names`. Upstreams are gathered from every file first
    (a conf.d file can hold the `upstream` another one's proxy_pass names); in a `.template`
    file (envsubst'd when the official image starts) `${NAME}` is fixed text, not a variable."""
    names = set(names)
    static: list[str] = []
    dynamic: list[str] = []
    resolved: list[str] = []
    cleaned = {where: _COMMENT.sub("", raw) for where, raw in texts.items()}
    for where, text in cleaned.items():
        if MANAGED_INCLUDE in text:
            return ProxyRouting(Routing.MANAGED, f"{where} includes {MANAGED_INCLUDE}")
    upstreams = {m.group(1): m.group(2) for t in cleaned.values() for m in _UPSTREAM.finditer(t)}
    kept = [_kept(m.group(1)) for text in cleaned.values() for m in _RESOLVER.finditer(text)]
    resolver = bool(kept)
    for where, text in cleaned.items():
        template = where.endswith(".template")
        for target in (m.group(1).strip() for m in _PROXY_PASS.finditer(text)):
            host = _host(target)
            if host in upstreams:
                servers = [(server, "resolve" in params.split())
                           for server, params in _SERVER.findall(upstreams[host])
                           if _host(server) in names]  # fmt: skip
                static += [f"{where}: upstream {host} {{server {server}}}"
                           for server, again in servers if not again]  # fmt: skip
                if resolver:  # `server NAME resolve`: re-resolved as the resolver says
                    resolved += [f"{where}: upstream {host} {{server {server} resolve}}"
                                 for server, again in servers if again]  # fmt: skip
            # with a variable anywhere in it, nginx resolves the host at each request (through
            # the resolver; without one it cannot at all), unless it names an upstream
            elif "$" in target and not (template and "${" in target):
                if resolver:
                    dynamic.append(f"{where}: proxy_pass {target}")
            elif host in names:
                static.append(f"{where}: proxy_pass {target}")
    if static:
        return ProxyRouting(
            Routing.STATIC, f"{static[0]} is resolved once, when nginx starts or reloads"
        )
    if dynamic or resolved:
        keeps, why = max(kept)
        return ProxyRouting(
            Routing.DISCOVERS,
            f"{(dynamic or resolved)[0]} re-resolved through a resolver that keeps an answer "
            f"{keeps:g} s ({why})",
            keeps,
            _connect(cleaned.values()),
        )
    return ProxyRouting(Routing.UNKNOWN, "no proxy_pass to a service of the project found")


def _kept(arguments: str) -> tuple[float, str]:
    """How long nginx keeps a name's answer with this `resolver`, and why: its `valid=`, else
    the answer's own TTL (Docker's DNS: DOCKER_DNS_TTL)."""
    for word in arguments.split():
        found = _VALID.match(word)
        if found and int(found.group(1)):  # valid=0: the answer's own TTL, as without it
            return int(found.group(1)) * _UNITS[found.group(2) or "s"], word
    return DOCKER_DNS_TTL, "no valid=: the TTL of Docker's DNS answers"


def _connect(texts: Iterable[str]) -> float:
    """How long nginx may wait on a connect before it tries the next address: the longest
    `proxy_connect_timeout` set (one in `http` and a longer one in a `location` both count),
    and nginx's default where none is."""
    found = [int(m.group(1)) * _UNITS[m.group(2) or "s"]
             for text in texts for m in _CONNECT.finditer(text)]  # fmt: skip
    return max(found) if found else CONNECT_DEFAULT


def _host(target: str) -> str:
    found = _HOST.match(target.strip())
    return found.group(1) if found else ""


def config_texts(
    config: Mapping[str, Any], configs: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The nginx config files of a service: its compose `configs` (a file each, from the
    top-level `configs`), bind-mounted files and folders, and the files of its build context,
    by path; at most MAX_FILES looked at, each a small regular file."""
    texts: dict[str, str] = {}
    for path in islice(_candidates(config, configs or {}), MAX_FILES):
        text = regular_text(path)
        if text is not None and any(word in text for word in ("_pass", "upstream", "include")):
            texts[str(path)] = text
    return texts


def _candidates(config: Mapping[str, Any], configs: Mapping[str, Any]) -> Iterator[Path]:
    for entry in config.get("configs") or []:
        name = entry.get("source") if isinstance(entry, dict) else entry
        found = configs.get(str(name)) if name is not None else None
        if isinstance(found, dict) and isinstance(found.get("file"), str):
            yield Path(found["file"])
    for source in _bind_sources(config.get("volumes") or []):
        path = Path(source)
        if path.is_dir():  # conf.d itself, or /etc/nginx with its conf.d and sites-enabled
            yield from _conf_files(path, depth=2)
        elif _is_conf(path.name) or path.name.endswith(".template"):
            yield path
    build = config.get("build")
    context = build.get("context") if isinstance(build, dict) else build
    if isinstance(context, str) and Path(context).is_absolute() and Path(context).is_dir():
        yield from _conf_files(Path(context), depth=3)


def _bind_sources(volumes: list[Any]) -> Iterator[str]:
    """Host paths of bind mounts: compose v2's long syntax, v1's `SOURCE:TARGET[:MODE]`."""
    for volume in volumes:
        if isinstance(volume, dict):
            if volume.get("type") == "bind" and isinstance(volume.get("source"), str):
                yield volume["source"]
        elif isinstance(volume, str) and volume.startswith("/") and ":" in volume:
            yield volume.split(":", 1)[0]


def _conf_files(folder: Path, depth: int, budget: list[int] | None = None) -> Iterator[Path]:
    """The config files under `folder`, `depth` levels down, looking at MAX_VISITS entries at
    most in all (a build context can be a repository of thousands of files)."""
    budget = budget if budget is not None else [MAX_VISITS]
    try:
        with os.scandir(folder) as found:
            entries = sorted(islice(found, max(budget[0], 0)), key=lambda e: e.name)
    except OSError:
        return
    budget[0] -= len(entries)
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_dir() and depth > 1 and not entry.name.startswith(".") and budget[0] > 0:
            yield from _conf_files(Path(entry.path), depth - 1, budget)
        elif _is_conf(entry.name):
            yield Path(entry.path)


def _is_conf(name: str) -> bool:
    """An nginx config file's name: `*.conf`, its `.template`, or Debian's `default` site."""
    return name.endswith((".conf", ".conf.template")) or name in ("nginx.conf", "default")
