"""`--proxy auto`: the mode a project gets, why, and the one line that says what it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdd.cli import app

from .conftest import Load, Write
from .fakes import FakeEngine
from .test_cli import fake_compose

runner = CliRunner()
CHECK = "healthcheck: {test: [CMD, 'true']}"
APP = (
    f"  app: {{image: a, expose: ['80'], {CHECK}}}\n  a: {{extends: app}}\n  b: {{extends: app}}\n"
)
MODES = {
    # name: (compose file, extra args, mode, words of its reason, words of its promise)
    "x-zdd-nginx": ("x-zdd: {proxy: nginx}\nservices:\n  proxy: {image: n}\n" + APP, [],
                    "nginx", "`x-zdd: {proxy}` in the compose file", "zero failed requests"),
    "hooks": ("services:\n" + APP, ["--pre-stop", "true"], "external",
              "--pre-stop/--post-start given", "the hooks' to do"),
    "discovery": ("services:\n  proxy: {image: n}\n" + APP, [], "discovery",
                  "service 'proxy' shares network default with the siblings",
                  "cannot drain an old one before it stops"),
    "other-network": ("services:\n  proxy: {image: n, networks: [edge]}\n" + APP
                      + "networks: {edge: {}}\n", [], "none",
                      "no service 'proxy' shares a network with them", "routing is not zdd's"),
    "no-proxy": ("services:\n" + APP, [], "none", "no service 'proxy'", "routing is not zdd's"),
    "flag-wins": ("services:\n  proxy: {image: n}\n" + APP, ["--proxy", "none"], "none",
                  "--proxy", "routing is not zdd's"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MODES))
def test_the_mode_is_said_before_anything_changes(tmp_path: Path, case: str) -> None:
    text, args, mode, reason, promise = MODES[case]
    path = tmp_path / "p" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(text)
    base = ["deploy", "--dry-run", "-f", str(path), "--compose-cmd", str(fake_compose(tmp_path))]
    shown = runner.invoke(app, [*base, *args])
    assert shown.exit_code == 0, shown.output
    line = shown.stderr.splitlines()[0]
    assert line.startswith(f"zdd: proxy: {mode} (") and reason in line and promise in line
    as_json = runner.invoke(app, [*base, *args, "--json"])
    event = json.loads(as_json.stdout.splitlines()[0])
    assert (event["event"], event["proxy"]) == ("mode", mode)
    assert reason in event["reason"] and promise in event["message"]
    steps = [json.loads(e)["step"] for e in as_json.stdout.splitlines()[1:] if '"plan"' in e]
    drains = any(step.startswith("# drain") for step in steps)
    assert drains is (mode in ("nginx", "external")), "only a proxy zdd controls is drained"


def test_discovery_reconnects_with_each_alias_as_a_value_never_a_flag() -> None:
    """Aliases come from the user's compose file: `--alias=-x` keeps `-x` a value."""
    from zdd.proxy.discovery import Attachment, DiscoveryRotation

    engine = FakeEngine("p", answers={("docker", "network"): ""})
    held = engine.container(engine.create("app", start=False))
    rotation = DiscoveryRotation(engine, "proxy", sleep=lambda _s: None)
    rotation.held[held.id] = [Attachment("p_default", ("-d", "pool"), "10.0.0.9")]
    rotation.route("app", admit=[held])
    assert engine.argv == [
        ("docker", "network", "connect", "--alias=-d", "--alias=pool", "--ip=10.0.0.9",
         "--", "p_default", held.id)
    ]  # fmt: skip


TWO_NETWORKS = """\
services:
  proxy: {image: n}
  app:
    image: a
    networks: {default: {aliases: [pool]}, backend: {}}
  a: {extends: app}
  db: {image: d, networks: [backend]}
networks: {backend: {}}
"""


CREATED_ON = {
    # network compose created the container on: (held for admission, connected before start)
    # compose v1 creates it on its first network only (here backend)
    "p_backend": ([("p_default", ("a", "pool"))], []),
    "p_default": ([("p_default", ("a", "pool"))], ["--alias=a", "--", "p_backend"]),
}


@pytest.mark.parametrize("compose", [1, 2], ids=["v1", "v2"])
@pytest.mark.parametrize("created_on", list(CREATED_ON))
def test_a_held_container_keeps_or_gets_every_network_but_the_proxy_s(
    write: Write, load: Load, compose: int, created_on: str
) -> None:
    """A stand-in database on `backend` stays reachable while the new container warms up."""
    from zdd.proxy.discovery import DiscoveryRotation

    held, connected_now = CREATED_ON[created_on]
    project = load(str(write("p/compose.yaml", TWO_NETWORKS)), compose=compose)
    networks = json.dumps({created_on: {"Aliases": ["a", "pool"]}})
    engine = FakeEngine("p", answers={("docker", "inspect"): networks, ("docker", "network"): ""})
    created = engine.container(engine.create("a", start=False))
    rotation = DiscoveryRotation(engine, "proxy", project)
    rotation.networks = {"p_default"}
    rotation.hold("a", [created])
    assert [(a.network, a.aliases) for a in rotation.held[created.id]] == held
    connects = [list(a[3:]) for a in engine.argv if a[:3] == ("docker", "network", "connect")]
    assert connects == ([[*connected_now, created.id]] if connected_now else [])
    disconnects = [a for a in engine.argv if a[:3] == ("docker", "network", "disconnect")]
    assert bool(disconnects) is (created_on == "p_default"), "only the proxy's network is left"


SHAPES = """\
services:
  listed: {image: a, networks: [front, ext]}
  fixed:
    image: a
    networks: {front: {aliases: [f], ipv4_address: 10.9.0.5}}
  implicit: {image: a}
  host: {image: a, network_mode: host}
networks:
  front: {ipam: {config: [{subnet: 10.9.0.0/24}]}}
  ext: {external: true, name: shared-edge}
"""


@pytest.mark.parametrize("compose", [1, 2], ids=["v1", "v2"])
def test_the_networks_compose_attaches_are_named_as_the_engine_names_them(
    write: Write, load: Load, compose: int
) -> None:
    from zdd.proxy.discovery import Attachment, attachments_of

    project = load(str(write("p/compose.yaml", SHAPES)), compose=compose)
    assert set(attachments_of(project, "listed")) == {
        Attachment("p_front", ("listed",)), Attachment("shared-edge", ("listed",))
    }  # fmt: skip
    assert attachments_of(project, "fixed") == [Attachment("p_front", ("fixed", "f"), "10.9.0.5")]
    assert attachments_of(project, "implicit") == [Attachment("p_default", ("implicit",))]
    assert attachments_of(project, "host") == [], "network_mode: no network of its own"
