"""The legacy v1 format on compose v2: a translation that compose v2 resolves as v1 does."""

from __future__ import annotations

from pathlib import Path

import yaml

from zdd.project.legacy import translate_service, write_translation
from zdd.project.rawyaml import read_yaml

from .conftest import Load, Write

COMPARED = ("image", "build", "restart", "network_mode", "environment", "command")


def test_the_seed_reads_the_same_on_compose_v2_as_on_v1(seed_file: Path, load: Load) -> None:
    v2, v1 = (load(str(seed_file), compose=major) for major in (2, 1))
    assert (v2.name, v2.groups, list(v2.services)) == (v1.name, v1.groups, list(v1.services))
    for name, service in v1.services.items():
        ours = {key: v2.services[name].config.get(key) for key in COMPARED}
        theirs = {key: service.config.get(key) for key in COMPARED}
        if isinstance(theirs["build"], dict):  # v2 names the default Dockerfile, v1 does not
            theirs["build"] = {"dockerfile": "Dockerfile", **theirs["build"]}
        assert ours == theirs, name


def test_variables_and_dollars_are_left_to_compose(write: Write, load: Load) -> None:
    write(
        "p/docker-compose.yml",
        "app:\n  image: 'x:${TAG:-${FALLBACK:-latest}}'\n  command: echo $$HOME\n"
        "service_a:\n  extends: app\n",
    )
    write("p/.env", 'FALLBACK="multi\nline"\n')
    v2 = load(cwd="p")
    assert v2.services["service_a"].config["image"] == "x:multi\nline"
    assert v2.services["service_a"].config["command"] == ["echo", "$$HOME"]


def test_renamed_v1_keys() -> None:
    config = {
        "build": "./src",
        "dockerfile": "Dockerfile.prod",
        "env_file": "app.env",
        "log_driver": "syslog",
        "log_opt": {"tag": "app"},
        "net": "host",
    }
    assert translate_service(config, Path("/p")) == {
        "build": {"context": "/p/src", "dockerfile": "Dockerfile.prod"},
        "env_file": ["/p/app.env"],
        "logging": {"driver": "syslog", "options": {"tag": "app"}},
        "network_mode": "host",
    }
    assert translate_service({"image": "x"}, Path("/p"))["network_mode"] == "bridge"
    assert "network_mode" not in translate_service({"image": "x"}, Path("/p"), override=True)


def test_translation_stays_out_of_the_project(seed_file: Path, tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    documents = [(seed_file, read_yaml(seed_file))]
    (path,) = write_translation(documents, environ)
    assert path.parent == tmp_path / "cache/zdd/legacy"
    assert path.name.startswith("legacy-") and path.suffix == ".yml"
    services = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    assert services["service_a"] == {"extends": {"service": "app"}}
    assert write_translation(documents, environ) == (path,)  # named by content: written once
    assert list(path.parent.iterdir()) == [path]
