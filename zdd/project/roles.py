"""Each service's role, from evidence rather than its name: its image (or the image its
Dockerfile builds FROM), its volumes, and `x-zdd: {role}` where the user says better.

- app: stateless, serves on a port; what zdd rolls out.
- proxy: nginx, HAProxy, Caddy, Traefik, Envoy, nginx-proxy... in front of the app.
- stateful: holds data (a well-known data image, or a named volume on an image the project
  does not build): zdd never starts a second copy of it beside the first.
- job: a one-shot (`x-zdd: {role: job}`): never rolled out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from zdd.errors import ComposeFileError
from zdd.project.files import regular_text


class Role(StrEnum):
    """What a service is to zdd."""

    APP = "app"
    PROXY = "proxy"
    STATEFUL = "stateful"
    JOB = "job"


# Image names (the last part of the repository, or `org/name` where the last part says
# nothing) that mean a proxy, and those that hold data. The one list of them.
PROXY_IMAGES = frozenset(
    {
        "nginx", "nginx-unprivileged", "openresty", "haproxy", "caddy", "traefik", "envoy",
        "nginx-proxy", "caddy-docker-proxy", "varnish", "swag",
        "nginx-base",  # scripts/images.sh's offline stand-in for nginx (no registry here)
    }
)  # fmt: skip
DISCOVERING_IMAGES = frozenset({"traefik", "nginx-proxy", "caddy-docker-proxy"})  # docker-aware
DATA_IMAGES = frozenset(
    {
        "postgres", "postgresql", "postgis", "timescaledb", "mysql", "mysql-server", "mariadb",
        "percona", "mongo", "mongodb", "mongodb-community-server", "redis", "redis-stack",
        "valkey", "keydb", "rabbitmq", "kafka", "cp-kafka", "zookeeper", "cp-zookeeper",
        "elasticsearch", "opensearch", "cassandra", "scylla", "couchdb", "couchbase",
        "influxdb", "neo4j", "clickhouse-server", "minio", "etcd", "mssql/server", "cockroach",
        "questdb", "meilisearch", "typesense", "qdrant", "weaviate", "solr", "nats", "memgraph",
    }
)  # fmt: skip
# FROM [--flag...] IMAGE [AS NAME]: each stage's base and its name
_STAGE = re.compile(
    r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Evidence:
    """A service's role and the evidence for it, said in `zdd services` and in refusals."""

    role: Role
    reason: str
    family: str = ""  # the image's name without registry, owner or tag (`postgres`, `nginx`)


AN_APP = Evidence(Role.APP, "")  # a Service made without evidence (a test's, a plan's)


def image_family(reference: str) -> str:
    """`docker.io/library/postgres:16@sha256:...` -> `postgres`; `mcr.microsoft.com/mssql/
    server:2022` -> `mssql/server`; `bitnami/postgresql` -> `postgresql`."""
    name = reference.strip().split("@", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts and ":" in parts[-1]:
        parts[-1] = parts[-1].split(":", 1)[0]
    parts = [part.lower() for part in parts if part]
    if len(parts) >= 2 and "/".join(parts[-2:]) in DATA_IMAGES:
        return "/".join(parts[-2:])
    return parts[-1] if parts else ""


def dockerfile_base(config: Mapping[str, Any]) -> str:
    """The image the service's Dockerfile builds the stage compose builds FROM (`build.target`,
    else the last stage; `` when unknown: no build, a remote context, a variable, a stage of
    the same file)."""
    build = config.get("build")
    if not isinstance(build, dict):
        return ""
    text = build.get("dockerfile_inline")
    if not isinstance(text, str):
        context = build.get("context")
        if not isinstance(context, str) or not Path(context).is_absolute():
            return ""
        text = regular_text(Path(context) / str(build.get("dockerfile") or "Dockerfile"))
    stages = [(m.group(1), m.group(2)) for m in _STAGE.finditer(text or "")]
    target = build.get("target")
    if target:  # the stage compose builds: `build.target`, else the last one
        stages = [stage for stage in stages if stage[1].lower() == str(target).lower()]
    names = {name.lower() for _, name in _STAGE.findall(text or "") if name}
    if not stages or "$" in stages[-1][0] or stages[-1][0].lower() in names:
        return ""
    return stages[-1][0]


def role_of(config: Mapping[str, Any], top_volumes: Mapping[str, Any]) -> Evidence:
    """The role of a service with compose's effective `config`, and why."""
    settings = config.get("x-zdd") or {}
    if isinstance(settings, dict) and "role" in settings:
        value = settings["role"]
        if value not in [str(role) for role in Role]:
            raise ComposeFileError(
                f"x-zdd: role must be app, proxy, stateful or job, got {value!r}"
            )
        return Evidence(Role(value), "x-zdd: role")
    image = str(config.get("image") or "")
    base = dockerfile_base(config)
    for reference, said in ((image, f"image {image}"), (base, f"its Dockerfile is FROM {base}")):
        family = image_family(reference) if reference else ""
        if family in PROXY_IMAGES:
            return Evidence(Role.PROXY, said, family)
        if family in DATA_IMAGES:
            return Evidence(Role.STATEFUL, f"{said} holds data", family)
    volume = _named_volume(config, top_volumes)
    if volume and "build" not in config:
        return Evidence(Role.STATEFUL, f"named volume {volume} holds its data")
    return Evidence(Role.APP, "builds its image" if "build" in config else f"image {image}")


def _named_volume(config: Mapping[str, Any], top_volumes: Mapping[str, Any]) -> str:
    for volume in config.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "volume" and volume.get("source"):
                return str(volume["source"])
        elif isinstance(volume, str) and ":" in volume:
            source = volume.split(":", 1)[0]
            if source in top_volumes:
                return source
    return ""
