"""Fixtures of the unit tier: compose files written inline into tmp_path, no Docker."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from zdd.compose_file import LoadOptions, Project, load_project

# The seed's docker-compose.yml (compose/legacy/docker-compose.yml), legacy v1 format.
SEED = """\
proxy:
  image: jwilder/nginx-proxy:0.2.0
  restart: always
  ports:
    - "8000:80"
  volumes:
    - "/var/run/docker.sock:/tmp/docker.sock:ro"

app:
  build: service
  restart: always
  ports:
    - "3000"
  environment:
    - VIRTUAL_HOST=localhost
    - VIRTUAL_PORT=3000

service_a:
  extends:
    service: app

service_b:
  extends:
    service: app
"""

Write = Callable[[str, str], Path]
Load = Callable[..., Project]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write dedented YAML (or any text) to a path relative to tmp_path; return the path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load(tmp_path: Path) -> Load:
    """load_project with cwd under tmp_path and an explicit environment (never os.environ)."""

    def _load(
        *files: str,
        cwd: str = "",
        environ: Mapping[str, str] | None = None,
        **options: str,
    ) -> Project:
        return load_project(
            LoadOptions(
                files=files,
                cwd=tmp_path / cwd,
                environ=dict(environ or {}),
                **options,  # type: ignore[arg-type]  # project_name, project_directory, env_file
            )
        )

    return _load


@pytest.fixture
def seed_file(write: Write) -> Path:
    """The seed's file in a directory named `legacy` (so the project is `legacy`)."""
    return write("legacy/docker-compose.yml", SEED)
