"""Stacks as users have them (the public examples' shapes), no healthcheck, a database beside
the app: an app behind a plain nginx with a fixed upstream, and an app that publishes its own
port with no proxy at all. zdd refuses each before any change, naming `zdd init`; after it, a
deploy under load fails no request and never touches the database."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engine.conftest import BASE_IMAGES, Stack, docker, on, pairwise
from tests.engine.test_deploy import wait_serving
from tests.engine.test_single import deploy_under_probe

pytestmark = pytest.mark.docker

DB_IMAGE = "zdd-standin/postgres:16"  # the python base under a data image's name: no registry
REDIS_IMAGE = "zdd-standin/redis:7-alpine"
MONGO_IMAGE = "zdd-standin/mongo:7"
SHOP = """\
services:
  frontend:
    image: ${ZDD_NGINX_IMAGE:-nginx:1.27}
    command: ["nginx", "-g", "daemon off;"]
    ports: ["127.0.0.1:${ZDD_DEMO_PORT:-8000}:80"]
    volumes: ["./default.conf:${ZDD_NGINX_SITE:-/etc/nginx/conf.d/default.conf}:ro"]
    depends_on: [app]
  app:
    build:
      context: ./service
      args: {BASE_IMAGE: "${ZDD_PYTHON_IMAGE:-python:3.12-slim}"}
    expose: ["3000"]
    environment: [WARMUP_SECONDS]
    depends_on: [db]
  db:
    image: ${ZDD_DB_IMAGE:-postgres:16}
    command: ["python3", "-m", "http.server", "5432"]
    volumes: ["pgdata:/var/lib/postgresql/data"]
volumes:
  pgdata: {}
"""
FLASK = """\
services:
  web:
    build:
      context: ./service
      args: {BASE_IMAGE: "${ZDD_PYTHON_IMAGE:-python:3.12-slim}"}
    ports: ["127.0.0.1:${ZDD_DEMO_PORT:-5000}:3000"]
    depends_on: [db]
  db:
    image: ${ZDD_DB_IMAGE:-postgres:16}
    command: ["python3", "-m", "http.server", "5432"]
    volumes: ["db_data:/var/lib/postgresql/data"]
volumes:
  db_data: {}
"""
NODE = """\
services:
  app:
    build:
      context: ./service
      args: {BASE_IMAGE: "${ZDD_PYTHON_IMAGE:-python:3.12-slim}"}
    ports: ["127.0.0.1:${ZDD_DEMO_PORT:-3000}:3000"]
    environment: ["REDIS_URL=redis://redis:6379"]
    depends_on: [redis]
  redis:
    image: ${ZDD_DB_IMAGE:-redis:7-alpine}
    command: ["python3", "-m", "http.server", "6379"]
"""
RESOLVING = """\
services:
  web:
    image: ${ZDD_NGINX_IMAGE:-nginx:1.27}
    command: ["nginx", "-g", "daemon off;"]
    ports: ["127.0.0.1:${ZDD_DEMO_PORT:-8080}:80"]
    volumes: ["./site.conf:${ZDD_NGINX_SITE:-/etc/nginx/conf.d/default.conf}:ro"]
  api:
    build:
      context: ./service
      args: {BASE_IMAGE: "${ZDD_PYTHON_IMAGE:-python:3.12-slim}"}
    expose: ["3000"]
    depends_on: [mongo]
  mongo:
    image: ${ZDD_DB_IMAGE:-mongo:7}
    command: ["python3", "-m", "http.server", "27017"]
    volumes: ["mongo-data:/data/db"]
volumes:
  mongo-data: {}
"""
# as the SWAG-style examples write it: Docker's DNS asked again after `valid=`, the app's
# address in a variable
RESOLVING_SITE = """\
server {
    listen 80 default_server;
    resolver 127.0.0.11 valid=5s;
    location / {
        set $upstream_app api;
        proxy_pass http://$upstream_app:3000;
    }
}
"""
SITE = """\
upstream backend {
    server app:3000;
}
server {
    listen 80 default_server;
    location / {
        proxy_pass http://backend;
    }
}
"""


def ids(stack: Stack) -> dict[str, str]:
    return {service: c["Id"] for service, c in stack.containers().items()}


BUILT = """\
services:
  web:
    build: ./nginx
    ports: ["127.0.0.1:${ZDD_DEMO_PORT:-8080}:80"]
    depends_on: [backend]
  backend:
    build:
      context: ./service
      args: {BASE_IMAGE: "${ZDD_PYTHON_IMAGE:-python:3.12-slim}"}
    expose: ["3000"]
    environment: [WARMUP_SECONDS]
  mongo:
    image: ${ZDD_DB_IMAGE:-mongo:7}
    command: ["python3", "-m", "http.server", "27017"]
    volumes: [mongo_data:/data/db]
volumes: {mongo_data: {}}
"""
BUILT_NGINX = """\
FROM nginx:1.27-alpine
RUN rm -f /etc/nginx/sites-enabled/default
COPY default.conf /etc/nginx/conf.d/default.conf
CMD ["nginx", "-g", "daemon off;"]
"""
FIXED = "server {\n    listen 80;\n    location / { proxy_pass http://backend:3000; }\n}\n"
NGINX_TAG = "nginx:1.27-alpine"  # the offline nginx under the name the Dockerfile builds FROM
# shape -> (files, proxy, app, database, its image, what the refusal names)
STATIC_SHAPES = {
    "nginx-image+postgres": (
        {"shop.yml": SHOP, "default.conf": SITE}, "frontend", "app", "db", DB_IMAGE,
        "upstream backend {server app:3000} is resolved once",
    ),
    "built-nginx+mongo": (
        {"shop.yml": BUILT, "nginx/Dockerfile": BUILT_NGINX, "nginx/default.conf": FIXED},
        "web", "backend", "mongo", MONGO_IMAGE,
        "proxy_pass http://backend:3000 is resolved once",
    ),
}  # fmt: skip


@pairwise("shape", list(STATIC_SHAPES))
def test_a_static_nginx_stack_is_refused_then_deployed_behind_zdd_after_init(
    stack: Stack, shape: str
) -> None:
    """An nginx with a fixed upstream (an nginx image with its site mounted, named `frontend`,
    beside Postgres; or built from its own Dockerfile FROM nginx, named `web`, beside MongoDB):
    refused, then `zdd init`, then a deploy under load with no healthcheck and an 8 s warm-up."""
    files, proxy, app, data, image, resolved = STATIC_SHAPES[shape]
    docker("tag", BASE_IMAGES["ZDD_PYTHON_IMAGE"], image)
    docker("tag", BASE_IMAGES["ZDD_NGINX_IMAGE"], NGINX_TAG)
    for name, text in files.items():
        (stack.directory / name).parent.mkdir(exist_ok=True)
        (stack.directory / name).write_text(text)
    stack.compose_file = "shop.yml"
    # Debian's nginx (the offline stand-in) serves sites-enabled/default, the image conf.d
    stack.env.update(ZDD_DB_IMAGE=image, ZDD_NGINX_SITE="/etc/nginx/sites-enabled/default")
    stack.compose("up", "-d", "--build")  # the user's stack, as it runs before zdd
    wait_serving(stack.url)
    before = ids(stack)

    refused = stack.zdd("deploy")
    assert refused.returncode == 2, refused.stderr
    assert f"{proxy!r} would keep sending to the old containers" in refused.stderr
    assert resolved in refused.stderr
    assert ids(stack) == before, "refused before any change"
    named = stack.zdd("deploy", data)
    assert named.returncode == 2 and f"service {data!r} is stateful" in named.stderr, named.stderr

    made = stack.zdd("init", "--write")
    assert made.returncode == 0, made.stderr
    override = ("-f", "docker-compose.zdd.yml")
    stale = stack.zdd("deploy", *override)
    assert stale.returncode == 2 and f"without zdd's upstream for {app}" in stale.stderr, (
        stale.stderr
    )
    assert ids(stack) == before, "a proxy still on its old config: refused, nothing changed"
    stack.compose(*override, "up", "-d", "--no-deps", proxy)  # as `zdd init` says
    stack.deploy(*override)  # renders the new proxy's upstream
    wait_serving(stack.url)
    running = ids(stack)

    (stack.directory / "service" / "VERSION").write_text("2\n")
    # no healthcheck and 503 for 8 s: gated on its own answer, not admitted after 5 s
    stack.env["WARMUP_SECONDS"] = "8"
    what = f"{shape} after init, warm-up 8 s"
    _result, report = deploy_under_probe(stack, what, "GET", 8, *override)
    assert report.requests >= 1000, report.summary()
    after = ids(stack)
    assert after[data] == before[data], "the database is never touched"
    assert after[proxy] == running[proxy]
    assert after[app] != running[app]
    if shape != "nginx-image+postgres":
        return
    # asked for by name with the override: stop-first on the same volume, said first
    volume = [m["Name"] for m in stack.containers()[data]["Mounts"] if m["Type"] == "volume"]
    replaced = stack.zdd("deploy", data, "--allow-stateful", *override)
    assert replaced.returncode == 0, replaced.stderr
    assert f"{data} is replaced stop-first because --allow-stateful" in replaced.stderr
    again = stack.containers()[data]
    assert again["Id"] != before[data] and again["State"]["Running"]
    assert [m["Name"] for m in again["Mounts"] if m["Type"] == "volume"] == volume


@pytest.mark.parametrize(
    ("shape", "app", "data", "image"),
    [
        (FLASK, "web", "db", DB_IMAGE),  # Flask on its own port 5000, Postgres with a volume
        (NODE, "app", "redis", REDIS_IMAGE),  # Express-style on 3000, Redis without a volume
    ],
    ids=["flask-postgres", "node-redis"],
)
def test_an_app_publishing_its_own_port_gets_zdds_nginx_on_that_port(
    stack: Stack, shape: str, app: str, data: str, image: str
) -> None:
    docker("tag", BASE_IMAGES["ZDD_PYTHON_IMAGE"], image)
    (stack.directory / "own-port.yml").write_text(shape)
    stack.compose_file = "own-port.yml"
    stack.env.update(ZDD_DB_IMAGE=image)
    stack.compose("up", "-d", "--build")
    wait_serving(stack.url)
    before = ids(stack)

    refused = stack.zdd("deploy")
    assert refused.returncode == 2, refused.stderr
    assert "cannot run two copies side by side (host port" in refused.stderr
    assert "`zdd init --write` does that with zdd's nginx" in refused.stderr
    assert ids(stack) == before, "refused before any change"
    made = stack.zdd("init", "--write")
    if stack.compose_cmd == "docker-compose":  # no `!reset` in compose v1: the edit, said
        assert made.returncode == 2, made.stderr
        assert "cannot remove a port in an override" in made.stderr
        assert f'replace {app}\'s `ports` with `expose: ["3000"]`' in made.stderr
        return
    assert made.returncode == 0, made.stderr
    override = ("-f", "docker-compose.zdd.yml")
    stack.compose(*override, "up", "-d", "--no-deps", app)  # the switch `zdd init` prints
    stack.compose(*override, "up", "-d", "--no-deps", "proxy")
    wait_serving(stack.url)
    stack.deploy(*override)
    running = ids(stack)

    (stack.directory / "service" / "VERSION").write_text("2\n")
    what = f"app's own port taken over by zdd init ({app} + {data})"
    _result, report = deploy_under_probe(stack, what, "GET", 8, *override)
    assert report.requests >= 1000, report.summary()
    after = ids(stack)
    assert after[data] == before[data], "the database is never touched"
    assert after["proxy"] == running["proxy"] and after[app] != running[app]


def test_a_release_layout_deploys_the_project_compose_sees(stack: Stack) -> None:
    """`current -> releases/rN`, deployed from `current` (no -f, no -p): compose v2 names the
    project after the path the shell shows (`current-…`), v1 after the real directory
    (`r-…`). zdd replaces the containers compose started, in that project, and no other."""
    releases = stack.directory.parent / "releases"
    real = releases / f"r-{stack.project}"
    releases.mkdir()
    stack.directory.rename(real)
    link = stack.directory.parent / f"current-{stack.project}"
    link.symlink_to(real.relative_to(link.parent))
    seen = {"docker compose": link.name, "docker-compose": real.name}[stack.compose_cmd]
    other = real.name if seen == link.name else link.name
    stack.directory, stack.project = link, seen  # the teardown removes what compose made
    env = {**stack.environ(), "PWD": str(link)}
    env.pop("COMPOSE_PROJECT_NAME", None)

    def run(*argv: str) -> str:
        result = subprocess.run(
            argv, cwd=link, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, f"{argv}: {result.stderr}"
        return result.stderr

    run(*stack.compose_cmd.split(), "up", "-d")  # the user's own start, from `current`
    wait_serving(stack.url)
    before = {s: c["Id"] for s, c in stack.containers().items()}
    (real / "service" / "VERSION").write_text("2\n")
    label = f"label=com.docker.compose.project={other}"
    try:
        said = run(sys.executable, "-m", "zdd", "deploy", "--compose-cmd", stack.compose_cmd)
        made = docker("ps", "-aq", "--filter", label)
    finally:  # whatever a wrong project name made
        Stack(link, stack.compose_cmd, project=other).teardown()
    assert made == "", f"zdd made project {other}: {said}"
    after = {s: c["Id"] for s, c in stack.containers().items()}
    assert set(after) == set(before), said
    assert all(after[s] != before[s] for s in ("service_a", "service_b")), said
    assert after["proxy"] == before["proxy"], said


@on("v2")  # nginx's resolver, whichever compose; the static stacks run both
def test_an_nginx_with_a_resolver_is_refused_then_given_its_valid_time_then_managed(
    stack: Stack,
) -> None:
    """An nginx named `web` that re-resolves `api` every 5 s, beside MongoDB, written as the
    SWAG-style examples write it. As it is, a request it sends to a stopped container's
    cached address waits nginx's 60 s connect timeout (measured: 8 of 3289 failed): refused
    before any change, with the fix. With `proxy_connect_timeout 1s` zdd gives it 6 s to find
    each new container (discovery); after `zdd init` zdd drives it. Both deploys under load
    fail no request and leave the database alone."""
    docker("tag", BASE_IMAGES["ZDD_PYTHON_IMAGE"], MONGO_IMAGE)
    (stack.directory / "resolving.yml").write_text(RESOLVING)
    site = stack.directory / "site.conf"
    site.write_text(RESOLVING_SITE)
    stack.compose_file = "resolving.yml"
    stack.env.update(ZDD_DB_IMAGE=MONGO_IMAGE, ZDD_NGINX_SITE="/etc/nginx/sites-enabled/default")
    stack.compose("up", "-d", "--build")
    wait_serving(stack.url)
    before = ids(stack)
    (stack.directory / "service" / "VERSION").write_text("2\n")

    refused = stack.zdd("deploy")
    assert refused.returncode == 2, refused.stderr
    assert "add `proxy_connect_timeout 1s;` to it" in refused.stderr
    assert "`zdd init --write`" in refused.stderr
    assert ids(stack) == before, "refused before any change"

    site.write_text(RESOLVING_SITE.replace("valid=5s;", "valid=5s;\n    proxy_connect_timeout 1s;"))
    stack.compose("restart", "web")  # the fix zdd named, as a user applies it
    wait_serving(stack.url)
    what = "nginx resolving every 5 s + api + mongo, as it is"
    result, report = deploy_under_probe(stack, what, "GET", 8)
    assert "zdd gives it at least 6 s to find each new container" in result.stdout, result.stdout
    assert report.requests >= 1000, report.summary()
    assert ids(stack)["mongo"] == before["mongo"], "the database is never touched"

    made = stack.zdd("init", "--write")
    assert made.returncode == 0, made.stderr
    override = ("-f", "docker-compose.zdd.yml")
    stack.compose(*override, "up", "-d", "--no-deps", "web")  # as `zdd init` says
    stack.deploy(*override)  # renders the recreated proxy's upstream
    wait_serving(stack.url)
    running = ids(stack)
    (stack.directory / "service" / "VERSION").write_text("3\n")
    what = "nginx resolving every 5 s + api + mongo, after init"
    result, report = deploy_under_probe(stack, what, "GET", 8, *override)
    assert "proxy: nginx" in result.stdout, result.stdout
    assert report.requests >= 1000, report.summary()
    after = ids(stack)
    assert after["mongo"] == before["mongo"], "the database is never touched"
    assert after["web"] == running["web"] and after["api"] != running["api"]
