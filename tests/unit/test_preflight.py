"""The preflight: every case `--dry-run` used to pass and the real run then broke on is
refused before any change, in one line, exit 2; what cannot be zero-downtime is said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd.cli import app
from zdd.project import published_ports

from .test_cli import error_line, fake_compose

runner = CliRunner()
TWO = "  a: {extends: app}\n  b: {extends: app}\n"
CHECK = "healthcheck: {test: [CMD, 'true']}"

REFUSED = {
    # name: (services, extra args, words of the refusal)
    "replicas": (f"  app: {{image: i, expose: ['80'], {CHECK}}}\n  a: {{extends: app, "
                 "deploy: {replicas: 3}}\n  b: {extends: app}\n", [], "a: 3 replicas"),
    "container-name-on-base": (f"  app: {{image: i, container_name: web, {CHECK}}}\n" + TWO, [],
                               "a and b both have container_name 'web'"),
    "same-host-port": (f"  app: {{image: i, ports: ['8080:80'], {CHECK}}}\n" + TWO, [],
                       "a and b both publish host port 8080"),
    "network-mode-host-with-nginx": (f"  proxy: {{image: n}}\n  app: {{image: i, expose: ['80'], "
                                     f"{CHECK}}}\n  a: {{extends: app, network_mode: host}}\n"
                                     "  b: {extends: app}\n",
                                     ["--proxy", "nginx"], "network_mode 'host'"),
    "nginx-without-proxy-service": (f"  app: {{image: i, expose: ['80'], {CHECK}}}\n" + TWO,
                                    ["--proxy", "nginx"], "no service 'proxy'"),
    "sibling-without-port-with-nginx": (f"  proxy: {{image: n}}\n  app: {{image: i, {CHECK}}}\n"
                                        + TWO, ["--proxy", "nginx"], "which port"),
    "hook-not-found": (f"  app: {{image: i, {CHECK}}}\n" + TWO,
                       ["--proxy", "external", "--pre-stop", "no-such-hook-zdd"],
                       "--pre-stop: command not found: no-such-hook-zdd"),
    "verify-not-http": (f"  app: {{image: i, {CHECK}}}\n" + TWO, ["--verify", "ftp://x"],
                        "--verify: probe URL must be http://"),
    "one-sibling-with-nginx": (f"  proxy: {{image: n}}\n  app: {{image: i, expose: ['80'], "
                               f"{CHECK}}}\n  a: {{extends: app}}\n", ["--proxy", "nginx"],
                               "app has one sibling, a"),
    "single-container-name": (f"  web: {{build: ., container_name: web, {CHECK}}}\n",
                              ["--order", "start-first"],
                              "web has container_name 'web': a start-first rollout runs its new "
                              "containers beside the old ones"),
    "single-host-port": (f"  web: {{build: ., ports: ['127.0.0.1:8080:80'], {CHECK}}}\n",
                         ["--order", "start-first"],
                         "web publishes host port 127.0.0.1:8080: a start-first rollout"),
    # issue 25: odd but valid input, one line each
    "single-host-network": (f"  web: {{build: ., network_mode: host, {CHECK}}}\n", [],
                            "web is replaced stop-first because it cannot run two copies side "
                            "by side (network_mode: host): it serves no request from its stop "
                            "until its new container is ready; for zero downtime leave the "
                            "host's network"),
    "single-host-network-start-first": (f"  web: {{build: ., network_mode: host, {CHECK}}}\n",
                                        ["--order", "start-first"],
                                        "web has network_mode: host: a start-first rollout"),
    "verify-unclosed-ipv6": (f"  app: {{image: i, {CHECK}}}\n" + TWO,
                             ["--verify", "http://[::1"], "--verify: probe URL must be http://"),
    "verify-port-zero": (f"  app: {{image: i, {CHECK}}}\n" + TWO,
                         ["--verify", "http://127.0.0.1:0/"], "--verify: probe URL must be"),
    "single-replicas-zero": (f"  web: {{build: ., scale: 0, {CHECK}}}\n", [],
                             "web: replicas must be a whole number above 0, not 0"),
}  # fmt: skip


def project(tmp_path: Path, services: str) -> list[str]:
    path = tmp_path / "p" / "compose.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("services:\n" + services)
    return ["-f", str(path), "--compose-cmd", str(fake_compose(tmp_path))]


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("command", [["deploy", "--dry-run"], ["check"]])
def test_what_cannot_work_is_refused_before_any_change(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    services, args, words = REFUSED[case]
    result = runner.invoke(app, [*command, *project(tmp_path, services), *args])
    assert result.exit_code == 2, result.output
    if command == ["check"]:
        refusals = [ln for ln in result.stderr.splitlines() if ln.startswith("zdd: refuse: ")]
        assert any(words in line for line in refusals), result.stderr
        assert "refusal(s)" in result.stderr.splitlines()[-1]
    else:
        assert words in error_line(result.stderr)
        assert result.stdout == "", "no plan printed"


SINGLE_STOP_FIRST = (
    "web is replaced stop-first because it cannot run two copies side by side (container_name "
    "'web'): it serves no request from its stop until its new container is ready; for zero "
    "downtime remove container_name (compose names each container); to accept the break, "
    "--order stop-first"
)


def test_a_single_that_cannot_run_twice_is_refused_unless_the_break_is_asked_for(
    tmp_path: Path,
) -> None:
    """Never a silent outage: the break is refused with the whole fix, or asked for."""
    services = f"  web: {{build: ., container_name: web, expose: ['80'], {CHECK}}}\n"
    result = runner.invoke(app, ["deploy", "--dry-run", *project(tmp_path, services)])
    assert result.exit_code == 2, result.output
    assert f"zdd: error: {SINGLE_STOP_FIRST}" in result.stderr.splitlines()
    asked = [*project(tmp_path, services), "--order", "stop-first"]
    result = runner.invoke(app, ["deploy", "--dry-run", *asked])
    assert result.exit_code == 0, result.output
    said = "zdd: web is replaced stop-first because --order stop-first: it serves no request "
    assert any(line.startswith(said) for line in result.stderr.splitlines()), result.stderr
    assert [ln.split(" -- ")[0].split()[-1] for ln in result.stdout.splitlines()[1:3]] == [
        "stop",
        "--force-recreate",
    ], "said before the plan, then stop-first"
    services = "  proxy: {image: n}\n" + services
    nginx = runner.invoke(app, ["check", *project(tmp_path, services), "--proxy", "nginx"])
    assert nginx.exit_code == 2 and f"zdd: refuse: {SINGLE_STOP_FIRST}" in nginx.stderr


def test_a_project_without_findings_checks_ok(tmp_path: Path) -> None:
    services = f"  proxy: {{image: n}}\n  app: {{image: i, expose: ['80'], {CHECK}}}\n" + TWO
    result = runner.invoke(app, ["check", *project(tmp_path, services), "--proxy", "nginx"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [  # each service: its role, what the plan does with it
        "zdd: service: proxy (app, image n): not touched",
        "zdd: service: app (app, image i): its image pulled, never run (the base of its siblings)",
        "zdd: service: a (app, image i): replaced stop-first, in turn",
        "zdd: service: b (app, image i): replaced stop-first, in turn",
        "zdd: check: ok",
    ]


def test_no_healthcheck_is_a_warning_said_before_the_plan(tmp_path: Path) -> None:
    services = "  app: {image: i, expose: ['80']}\n" + TWO
    result = runner.invoke(app, ["check", "--json", *project(tmp_path, services)])
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    events = [e for e in events if e["event"] != "service"]  # each service's role, first
    assert [e["event"] for e in events] == ["warning", "warning", "summary"]
    assert "a has no healthcheck" in events[0]["message"]
    with_path = runner.invoke(app, ["check", *project(tmp_path, services), "--health-path", "/"])
    assert with_path.stderr.splitlines()[-1] == "zdd: check: ok"


@pytest.mark.parametrize(
    ("ports", "published"),
    [
        (["3000"], []),
        (["8080:3000"], ["8080"]),
        (["0.0.0.0:8080:3000"], ["8080"]),
        (["127.0.0.1:8080:3000/tcp"], ["127.0.0.1:8080"]),
        (["[::1]:8080:3000"], ["[::1]:8080"]),
        (["8080-8081:3000-3001/udp"], ["8080-8081/udp"]),
        ("8080:3000", ["8080"]),
        ([{"target": 3000, "published": 8080}], ["8080"]),
        ([{"target": 3000}], []),
    ],
)
def test_published_ports(ports: object, published: list[str]) -> None:
    assert [str(port) for port in published_ports({"ports": ports})] == published


def test_discovery_says_when_a_held_container_would_lose_its_database(tmp_path: Path) -> None:
    services = f"  proxy: {{image: n}}\n  db: {{image: postgres}}\n  web: {{build: ., {CHECK}}}\n"
    args = ["check", *project(tmp_path, services), "--proxy", "discovery"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "zdd: warning: web is on no network but the proxy's (default): while a new container "
        "warms up zdd keeps it off default, so it cannot reach db then; to avoid it, add "
        "`networks: [frontend, default]` to web, `networks: [frontend]` to proxy, and "
        "`networks: {frontend: {}}` at the top level"
    ) in result.stderr.splitlines()
    apart = services.replace("{image: n}", "{image: n, networks: [front]}")
    apart = apart.replace("{build: .,", "{build: ., networks: [front, default],")
    apart += "networks: {front: {}}\n"
    quiet = runner.invoke(app, ["check", *project(tmp_path, apart), "--proxy", "discovery"])
    assert "is on no network but the proxy's" not in quiet.stderr, quiet.stderr
