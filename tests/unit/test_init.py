"""`zdd init`: the override and nginx config for this project's groups, in the file format the
project uses; nothing of the user's is overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zdd.cli import app
from zdd.errors import UsageError
from zdd.init import setup

from .conftest import Load, Write

MODERN = """\
services:
  proxy: {image: traefik:v3, networks: [front]}
  app: {build: ., expose: ["8080"], networks: [front, back]}
  a: {extends: app}
  b: {extends: app}
  worker: {image: w, networks: [back]}
networks: {front: {}, back: {}}
"""


def test_a_modern_project_gets_x_zdd_the_proxy_wiring_and_an_alias_per_sibling(
    write: Write, load: Load
) -> None:
    made = setup(load(str(write("m/compose.yaml", MODERN))), "proxy")
    override = yaml.safe_load(made.override)
    assert override["x-zdd"] == {"proxy": "nginx", "proxy_service": "proxy"}
    proxy = override["services"]["proxy"]
    assert proxy["image"] == "${ZDD_NGINX_IMAGE:-nginx:1.27}", "traefik is not nginx"
    assert proxy["tmpfs"] == ["/etc/nginx/zdd"]
    assert proxy["volumes"] == ["./zdd-nginx.conf:/etc/nginx/nginx.conf:ro"]
    for sibling in ("a", "b"):  # on the network they share with the proxy
        assert override["services"][sibling] == {"networks": {"front": {"aliases": ["app-pool"]}}}
    assert "worker" not in override["services"]
    assert "upstream app {" in made.nginx and "include /etc/nginx/zdd/app/*.conf;" in made.nginx
    assert "set $app_pool http://app-pool:8080;" in made.nginx
    assert made.usage == "zdd deploy -f compose.yaml -f docker-compose.zdd.yml"


@pytest.mark.parametrize("compose", [2, 1])
def test_the_seed_stack_gets_a_v1_format_override_and_flags(
    seed_file: Path, load: Load, compose: int
) -> None:
    made = setup(load(str(seed_file), compose=compose), "proxy", "zdd/nginx-base:bookworm")
    override = yaml.safe_load(made.override)
    assert "x-zdd" not in override, "a v1-format file has services only"
    assert override["proxy"]["image"] == "zdd/nginx-base:bookworm"
    assert "tmpfs" not in override["proxy"], "compose v1 refuses tmpfs in the v1 format"
    assert "error_page 502" not in made.nginx, "the default bridge has no alias to fall back on"
    assert made.usage.endswith("-f docker-compose.zdd.yml --proxy nginx --proxy-service proxy")


def test_init_says_what_it_cannot_do_in_one_line(write: Write, load: Load) -> None:
    with pytest.raises(UsageError, match="no service 'edge'"):
        setup(load(str(write("m/compose.yaml", MODERN))), "edge")
    lonely = "services:\n  proxy: {image: nginx, networks: [x]}\n  app: {build: ., expose: ['1']}\n"
    built = "services:\n  proxy: {build: .}\n  app: {build: ., expose: ['1']}\n"
    with pytest.raises(UsageError, match="proxy builds its own image, not FROM nginx"):
        setup(load(str(write("b/compose.yaml", built))), "proxy")
    with pytest.raises(UsageError, match="proxy and app share no network"):
        setup(load(str(write("n/compose.yaml", lonely + "networks: {x: {}}\n"))), "proxy")


def test_write_never_overwrites(write: Write, tmp_path: Path) -> None:
    path = write("m/compose.yaml", MODERN)
    env = {"XDG_CACHE_HOME": str(tmp_path / "c")}
    first = CliRunner().invoke(app, ["init", "-f", str(path), "--write"], env=env)
    assert first.exit_code == 0, first.output
    assert (path.parent / "zdd-nginx.conf").is_file()
    again = CliRunner().invoke(app, ["init", "-f", str(path), "--write"], env=env)
    assert again.exit_code == 2
    assert "docker-compose.zdd.yml exists" in again.stderr


PUBLISHED = """\
services:
  web:
    build: .
    ports: ["127.0.0.1:5000:5000"]
    networks: [front, back]
  db: {image: postgres:16, networks: [back]}
networks: {front: {}, back: {}}
"""


@pytest.mark.parametrize("compose", [1, 2], ids=["v1", "v2"])
def test_an_app_publishing_its_own_port_gets_zdds_nginx_on_that_port(
    write: Write, load: Load, compose: int
) -> None:
    project = load(str(write("p/compose.yaml", PUBLISHED)), compose=compose)
    if compose == 1:  # no `!reset` in compose v1: the exact edit instead
        with pytest.raises(UsageError, match=r"web publishes host port 127.0.0.1:5000 itself"):
            setup(project, "proxy")
        return
    made = setup(project, "proxy")
    assert "ports: !reset []" in made.override, "the app's own ports removed by compose"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!reset", lambda loader, node: "RESET")
    override = yaml.load(made.override, Loader=Loader)
    web, proxy = override["services"]["web"], override["services"]["proxy"]
    assert (web["ports"], web["expose"]) == ("RESET", ["5000"])
    assert web["networks"] == {"back": {"aliases": ["web-pool"]}}
    assert [(p["host_ip"], str(p["published"]), p["target"]) for p in proxy["ports"]] == [
        ("127.0.0.1", "5000", 5000)
    ], "the same address and port, now zdd's nginx's"
    assert proxy["networks"] == ["back", "front"] and proxy["tmpfs"] == ["/etc/nginx/zdd"]
    assert "listen 5000;" in made.nginx and "proxy_pass http://web;" in made.nginx
    assert "up -d --no-deps web && " in made.switch and made.switch.count("up -d") == 2


def test_a_proxy_built_from_nginx_gets_zdds_config_over_its_own(write: Write, load: Load) -> None:
    """Its image is the user's (built FROM nginx, their config copied in): zdd's nginx.conf is
    mounted over the image's, the build kept."""
    path = write("w/compose.yaml", "services:\n  web: {build: ./nginx, ports: ['8080:80']}\n"
                 "  backend: {build: ./backend, expose: ['8000']}\n")  # fmt: skip
    write("w/nginx/Dockerfile", "FROM nginx:1.27-alpine\nCOPY default.conf /etc/nginx/conf.d/\n")
    write("w/backend/Dockerfile", "FROM python:3.12-slim\n")
    made = setup(load(str(path)), "web")
    override = yaml.safe_load(made.override)
    assert override["services"]["web"] == {
        "volumes": ["./zdd-nginx.conf:/etc/nginx/nginx.conf:ro"],
        "tmpfs": ["/etc/nginx/zdd"],
    }
    assert "upstream backend {" in made.nginx and "include /etc/nginx/zdd/backend/" in made.nginx
