"""Stacks shaped like the public examples people copy (an app publishing its own port beside
Postgres; an nginx named `web`, built from a Dockerfile, with a fixed `proxy_pass`, beside
MongoDB; a Node app beside Redis; Traefik; an nginx with a `resolver`), read by the real
compose v2 and v1: each service's role, and what a deploy would do, before any change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd.cli import app

from .test_cli import error_line, fake_compose

runner = CliRunner()

STACKS = {
    "flask+postgres": {
        "compose.yaml": """\
services:
  web:
    build: ./web
    ports: ["5000:5000"]
    depends_on: [db]
  db:
    image: postgres:16
    environment: {POSTGRES_PASSWORD: example}
    volumes: [db_data:/var/lib/postgresql/data]
volumes: {db_data: {}}
""",
        "web/Dockerfile": 'FROM python:3.12-slim\nCOPY . /app\nCMD ["flask", "run"]\n',
    },
    "static-nginx+mongo": {
        "compose.yaml": """\
services:
  web:
    build: ./nginx
    ports: ["8080:80"]
    depends_on: [backend]
  backend:
    build: ./backend
    expose: ["8000"]
  mongo:
    image: mongo:7
    volumes: [mongo_data:/data/db]
volumes: {mongo_data: {}}
""",
        "nginx/Dockerfile": "FROM nginx:1.27-alpine\nCOPY default.conf /etc/nginx/conf.d/\n",
        "nginx/default.conf": "server {\n  listen 80;\n  location / {\n"
        "    proxy_pass http://backend:8000;\n  }\n}\n",
        "backend/Dockerfile": "FROM python:3.12-slim\n",
    },
    "static-nginx-image": {
        "compose.yaml": """\
services:
  frontend:
    image: nginx:1.27
    ports: ["8080:80"]
    volumes: [./default.conf:/etc/nginx/conf.d/default.conf:ro]
  app:
    build: .
    expose: ["8000"]
""",
        "default.conf": "upstream backend {\n  server app:8000;\n}\nserver {\n  location / {\n"
        "    proxy_pass http://backend;\n  }\n}\n",
        "Dockerfile": "FROM python:3.12-slim\n",
    },
    "node+redis": {
        "compose.yaml": """\
services:
  app:
    build: .
    ports: ["3000:3000"]
  redis:
    image: redis:7-alpine
""",
        "Dockerfile": 'FROM node:20-alpine\nCMD ["node", "server.js"]\n',
    },
    "traefik": {
        "compose.yaml": """\
services:
  traefik:
    image: traefik:v3.1
    command: [--providers.docker=true]
    ports: ["80:80"]
    volumes: [/var/run/docker.sock:/var/run/docker.sock:ro]
  whoami:
    build: ./app
    labels: [traefik.http.routers.whoami.rule=PathPrefix(`/`)]
""",
        "app/Dockerfile": "FROM golang:1.22\n",
    },
    "nginx-resolver": {
        "compose.yaml": """\
services:
  proxy:
    image: nginx:1.27
    ports: ["8080:80"]
    volumes: [./nginx:/etc/nginx/conf.d:ro]
  api:
    build: ./api
    expose: ["8000"]
""",
        "nginx/default.conf": "resolver 127.0.0.11 valid=1s;\nserver {\n  location / {\n"
        "    set $api http://api:8000;\n    proxy_pass $api;\n    proxy_connect_timeout 1s;\n"
        "  }\n}\n",
        "api/Dockerfile": "FROM node:20\n",
    },
}
STACKS["managed-nginx"] = {
    "compose.yaml": """\
services:
  proxy:
    image: nginx:1.27
    ports: ["8080:80"]
    volumes: [./nginx.conf:/etc/nginx/nginx.conf:ro]
  api:
    build: ./api
    expose: ["8000"]
""",
    "nginx.conf": "events {}\nhttp {\n  upstream api {\n    server 127.0.0.1:9 down;\n"
    "    include /etc/nginx/zdd/api/*.conf;\n  }\n"
    "  server { listen 80; location / { proxy_pass http://api; } }\n}\n",
    "api/Dockerfile": "FROM node:20\n",
}
ROLES = {
    "flask+postgres": {"web": "app", "db": "stateful"},
    "static-nginx+mongo": {"web": "proxy", "backend": "app", "mongo": "stateful"},
    "static-nginx-image": {"frontend": "proxy", "app": "app"},
    "node+redis": {"app": "app", "redis": "stateful"},
    "traefik": {"traefik": "proxy", "whoami": "app"},
    "nginx-resolver": {"proxy": "proxy", "api": "app"},
    "managed-nginx": {"proxy": "proxy", "api": "app"},
}
ROLLED_OUT = {  # what `zdd services` says a deploy rolls out
    "flask+postgres": ["web"],
    "static-nginx+mongo": ["backend"],
    "static-nginx-image": ["app"],
    "node+redis": ["app"],
    "traefik": ["whoami"],
    "nginx-resolver": ["api"],
    "managed-nginx": ["api"],
}


def write_stack(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name.replace("+", "-")
    for relative, text in STACKS[name].items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    return folder / "compose.yaml"


def zdd(tmp_path: Path, compose: str, *args: str) -> tuple[int, str, str]:
    version = "1.29.2" if compose == "v1" else "2.40.3"
    argv = [*args, "--compose-cmd", str(fake_compose(tmp_path, version))]
    result = runner.invoke(app, argv)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "ZDD_COMPOSE_CMD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("compose", ["v2", "v1"])
@pytest.mark.parametrize("stack", list(STACKS))
def test_services_says_each_role_and_what_a_deploy_rolls_out(
    tmp_path: Path, stack: str, compose: str
) -> None:
    path = write_stack(tmp_path, stack)
    code, out, err = zdd(tmp_path, compose, "services", "-f", str(path), "--json")
    assert code == 0, err
    said = json.loads(out)
    assert {name: r["role"] for name, r in said["roles"].items()} == ROLES[stack]
    assert said["singles"] == ROLLED_OUT[stack]
    code, out, err = zdd(tmp_path, compose, "services", "-f", str(path))
    assert f"rolled out on its own: {ROLLED_OUT[stack][0]} (app: " in out


@pytest.mark.parametrize("compose", ["v2", "v1"])
@pytest.mark.parametrize(("stack", "service"), [("flask+postgres", "db"), ("node+redis", "redis")])
def test_a_stateful_service_is_never_rolled_out(
    tmp_path: Path, stack: str, service: str, compose: str
) -> None:
    path = write_stack(tmp_path, stack)
    code, _out, err = zdd(tmp_path, compose, "deploy", service, "--dry-run", "-f", str(path))
    assert code == 2
    line = error_line(err)
    assert f"service {service!r} is stateful" in line and "never rolls it out" in line


@pytest.mark.parametrize("compose", ["v2", "v1"])
def test_a_static_nginx_is_refused_before_any_change_with_the_fix(
    tmp_path: Path, compose: str
) -> None:
    """It resolves `backend` once: after the old container is gone it would answer 502."""
    path = write_stack(tmp_path, "static-nginx+mongo")
    code, _out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path))
    assert code == 2
    line = error_line(err)
    assert "proxy 'web' would keep sending to the old containers" in line
    assert "proxy_pass http://backend:8000 is resolved once" in line
    assert "resolver 127.0.0.11" in line and "proxy_connect_timeout 1s" in line
    assert "`zdd init --write`" in line, "built FROM nginx: zdd init takes it over"
    path = write_stack(tmp_path, "static-nginx-image")
    code, _out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path))
    assert code == 2
    line = error_line(err)
    assert (
        "proxy 'frontend' would keep sending" in line
        and "upstream backend {server app:8000}" in line
    )
    assert "`zdd init --write`" in line, "an nginx image: zdd init replaces its config"
    asked = ("deploy", "--dry-run", "-f", str(path), "--proxy", "discovery")
    code, _out, err = zdd(tmp_path, compose, *asked)
    assert code == 2 and "would keep sending" in error_line(err), "asked for, still refused"


@pytest.mark.parametrize("compose", ["v2", "v1"])
@pytest.mark.parametrize(
    ("stack", "reason"),
    [
        ("traefik", "traefik watches the docker engine"),
        ("nginx-resolver", "proxy_pass $api re-resolved through a resolver"),
    ],
)
def test_a_proxy_that_discovers_the_app_is_said_why(
    tmp_path: Path, stack: str, reason: str, compose: str
) -> None:
    path = write_stack(tmp_path, stack)
    code, _out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path))
    assert code == 0, err
    mode = err.splitlines()[0]
    assert mode.startswith("zdd: proxy: discovery (") and reason in mode, mode


REPO = Path(__file__).resolve().parents[2]
FIXTURES = [
    "docker-compose.yml",
    "compose/single/docker-compose.yml",
    "compose/legacy/docker-compose.yml",
    *STACKS,
]


@pytest.mark.parametrize("compose", ["v2", "v1"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_services_and_the_deploy_plan_agree(tmp_path: Path, fixture: str, compose: str) -> None:
    """What `zdd services` says a deploy rolls out is what the plan of `deploy --dry-run` holds:
    they are computed from the same model and can never disagree."""
    path = write_stack(tmp_path, fixture) if fixture in STACKS else REPO / fixture
    code, out, err = zdd(tmp_path, compose, "services", "-f", str(path), "--json")
    assert code == 0, err
    said = json.loads(out)
    rolled = {s for g in said["groups"] for s in g["siblings"]} | set(said["singles"])
    code, out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "--json", "-f", str(path))
    if code == 2:  # refused before any change (a static proxy): one line, and nothing planned
        assert error_line(err) and '"plan"' not in out
        return
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    planned = {e["service"] for e in events if e["event"] == "plan" and "service" in e}
    assert planned == rolled, (planned, rolled)


@pytest.mark.parametrize("compose", ["v2", "v1"])
def test_a_proxy_that_includes_zdds_upstream_is_managed_by_auto(
    tmp_path: Path, compose: str
) -> None:
    path = write_stack(tmp_path, "managed-nginx")
    code, _out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path))
    assert code == 0, err
    mode = err.splitlines()[0]
    assert mode.startswith("zdd: proxy: nginx (service 'proxy': ") and "includes" in mode, mode


@pytest.mark.parametrize("compose", ["v2", "v1"])
@pytest.mark.parametrize(
    ("resolver", "connect", "waits"),
    [
        ("valid=1s", "1s", 2),
        ("valid=30s", "500ms", 31),
        ("valid=1m ipv6=off", "2s", 61),
        ("ipv6=off", "1s", "keeps an answer 600 s (no valid=: the TTL of Docker's DNS answers)"),
        ("valid=5s", "60s", "waits 60 s on a connect before it tries the next container"),
    ],
)
def test_a_resolver_that_keeps_answers_is_waited_for_or_refused(
    tmp_path: Path, compose: str, resolver: str, connect: str, waits: int | str
) -> None:
    """nginx keeps a name's answer `valid=` seconds, else its TTL: 600 s from Docker's DNS.
    Until then it sends nothing to a new container and everything to the old one, so zdd
    waits that long before it stops an old one, or refuses a wait of more than a minute. A
    request it then sends to the stopped one's address waits `proxy_connect_timeout`
    before the next container is tried: more than 2 s, and clients time out (refused)."""
    path = write_stack(tmp_path, "nginx-resolver")
    conf = path.parent / "nginx" / "default.conf"
    text = conf.read_text().replace("valid=1s", resolver)
    conf.write_text(text.replace("proxy_connect_timeout 1s", f"proxy_connect_timeout {connect}"))
    code, out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path))
    if isinstance(waits, str):
        assert code == 2
        line = error_line(err)
        assert waits in line
        assert "`zdd init --write`" in line
        return
    assert code == 0, err
    assert f"then wait {waits} s for the proxy to find it" in out
    assert f"zdd gives it at least {waits} s to find each new container" in err.splitlines()[0]


@pytest.mark.parametrize("compose", ["v2", "v1"])
def test_allow_stateful_replaces_a_named_database_stop_first_warned_first(
    tmp_path: Path, compose: str
) -> None:
    """The override: the seed's own sequence for it alone (stop, then up --force-recreate),
    no proxy involved, the break said before any change; never start-first, never mixed."""
    path = write_stack(tmp_path, "flask+postgres")  # its Postgres published on 5432:
    path.write_text(
        path.read_text().replace(
            "image: postgres:16", "image: postgres:16\n    ports: ['5432:5432']"
        )
    )
    flags = ("--dry-run", "-f", str(path), "--allow-stateful")
    code, out, err = zdd(tmp_path, compose, "deploy", "db", *flags)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(" stop -- db"), out
    assert lines[1].endswith(" up -d --no-deps --no-build --force-recreate -- db"), out
    assert " build " not in out
    assert "zdd: proxy: none (only stateful services named" in err.splitlines()[0]
    assert "db is replaced stop-first because --allow-stateful: it holds data" in err
    assert "# wait 5 s, then check db runs" in out, "a database is not asked over HTTP"
    assert "zdd waits the seed's 5 s and checks it still runs" in err
    code, _out, err = zdd(tmp_path, compose, "deploy", "db", *flags, "--order", "start-first")
    assert code == 2 and "is replaced stop-first only" in error_line(err)
    code, _out, err = zdd(tmp_path, compose, "deploy", "db", "web", *flags)
    assert code == 2 and "in a command of its own" in error_line(err)
    code, _out, err = zdd(tmp_path, compose, "deploy", "--dry-run", "-f", str(path), "db")
    assert code == 2 and "--allow-stateful`: stop-first, a break" in error_line(err)


SWARM_REFUSED = {
    # flags: the words of the refusal (what only the compose engine takes)
    ("db", "--allow-stateful"): "--allow-stateful is for the compose engine",
    ("--drain-image", "zdd/netfilter:bookworm"): "--drain-image is for the compose engine",
}


@pytest.mark.parametrize("flags", list(SWARM_REFUSED))
@pytest.mark.parametrize("command", [("deploy", "--dry-run"), ("check",)])
def test_what_only_the_compose_engine_takes_is_refused_on_a_swarm_by_deploy_and_check_alike(
    tmp_path: Path, command: tuple[str, ...], flags: tuple[str, str]
) -> None:
    path = write_stack(tmp_path, "flask+postgres")
    path.write_text("x-zdd: {engine: swarm}\n" + path.read_text())
    code, _out, err = zdd(tmp_path, "v2", *command, *flags, "-f", str(path))
    assert code == 2 and SWARM_REFUSED[flags] in error_line(err)
