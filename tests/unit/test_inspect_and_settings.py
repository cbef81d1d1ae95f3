"""docker inspect parsing and `x-zdd` settings."""

from __future__ import annotations

from typing import Any

import pytest

from zdd.containers import parse_inspect
from zdd.errors import ComposeFileError

from .conftest import Load, Write

INSPECT: dict[str, Any] = {  # `docker inspect` JSON
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
    no_check = {**INSPECT, "Config": {**INSPECT["Config"], "Healthcheck": None}}
    assert parse_inspect(no_check).check_budget is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            "x-zdd: {proxy: traefik}",
            "x-zdd: proxy must be auto, nginx, external, discovery or none, got 'traefik'",
        ),
        (
            "x-zdd: {proxy: nginx, proxy-service: web}",
            "x-zdd: unknown key 'proxy-service' (known: proxy, proxy_service, engine, registry, "
            "max_error_rate, max_latency_ratio)",
        ),
        ("x-zdd: [nginx]", "top-level `x-zdd` must be a mapping"),
        ("x-zdd: {proxy_service: [a]}", "x-zdd: proxy_service must be a service name"),
    ],
)
def test_bad_x_zdd_settings_are_compose_file_errors(
    write: Write, load: Load, settings: str, message: str
) -> None:
    write("p/compose.yaml", f"{settings}\nservices:\n  app: {{image: x}}\n  a: {{extends: app}}\n")
    with pytest.raises(ComposeFileError) as err:
        load(cwd="p")
    assert str(err.value) == message
    assert err.value.exit_code == 2


@pytest.mark.parametrize("mode", ["auto", "nginx", "external", "discovery", "none"])
def test_every_proxy_mode_is_a_valid_x_zdd_setting(write: Write, load: Load, mode: str) -> None:
    write("p/compose.yaml", f"x-zdd: {{proxy: {mode}}}\nservices:\n  app: {{image: x}}\n")
    settings = load(cwd="p").settings
    # auto chooses from the project, as when nothing is set
    assert settings.get("proxy") == (None if mode == "auto" else mode)
