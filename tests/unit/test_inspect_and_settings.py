"""docker inspect parsing, `x-zdd` settings, and `$` in the legacy translation."""

from __future__ import annotations

from pathlib import Path

import pytest

from zdd.compose_file import LoadOptions, load_project
from zdd.containers import parse_inspect
from zdd.errors import ComposeFileError
from zdd.legacy import translate

INSPECT = {
    "Id": "abc",
    "Name": "/p-service_a-1",
    "Image": "sha256:1",
    "RestartCount": 0,
    "State": {"Status": "running", "ExitCode": 0, "Health": {"Status": "starting", "Log": []}},
    "Config": {
        "Image": "p-service_a",
        "Labels": {"com.docker.compose.service": "service_a"},
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 2_000_000_000, "Retries": 4},
    },
    "NetworkSettings": {"Networks": {"p_default": {"IPAddress": "172.20.0.3"}}},
}


def test_inspect_gives_the_image_healthcheck_budget() -> None:
    container = parse_inspect(INSPECT)
    assert (container.service, container.image, container.health) == (
        "service_a",
        "p-service_a",
        "starting",
    )
    assert container.networks == {"p_default": "172.20.0.3"}
    # start 0 + (interval 2 + min(timeout 30, interval 2)) x (4 + 1) + 10
    assert container.check_budget == 30.0
    no_check = {**INSPECT, "Config": {**INSPECT["Config"], "Healthcheck": None}}  # type: ignore[dict-item]
    assert parse_inspect(no_check).check_budget is None


def _load(tmp_path: Path, text: str) -> object:
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(LoadOptions(cwd=tmp_path, environ={}))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("x-zdd: {proxy: traefik}", "x-zdd: proxy must be nginx, external or none, got 'traefik'"),
        ("x-zdd: [nginx]", "top-level `x-zdd` must be a mapping"),
        ("x-zdd: {proxy_service: [a]}", "x-zdd: proxy_service must be a service name"),
    ],
)
def test_bad_x_zdd_settings_are_compose_file_errors(
    tmp_path: Path, settings: str, message: str
) -> None:
    with pytest.raises(ComposeFileError) as err:
        _load(tmp_path, f"{settings}\nservices:\n  app: {{image: x}}\n  a: {{extends: app}}\n")
    assert str(err.value) == message
    assert err.value.exit_code == 2


def test_legacy_translation_keeps_dollars_literal(tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(
        "app:\n  image: x\n  command: sh -c 'echo $$HOME ${NAME}'\nservice_a:\n  extends: app\n"
    )
    project = load_project(LoadOptions(cwd=tmp_path, environ={"NAME": "zdd"}))
    services = translate(project)["services"]
    assert services["service_a"]["command"] == "sh -c 'echo $$HOME zdd'"
