"""Roles from evidence (image, Dockerfile, volumes, `x-zdd: {role}`) and a proxy's routing from
its nginx config: pure, no compose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zdd.errors import ComposeFileError
from zdd.project.nginxconf import Routing, classify, config_texts
from zdd.project.roles import Role, image_family, role_of

NAMES = {"backend", "app", "pool", "db"}


@pytest.mark.parametrize(
    ("reference", "family"),
    [
        ("postgres", "postgres"),
        ("postgres:16-alpine", "postgres"),
        ("docker.io/library/postgres:16@sha256:abc", "postgres"),
        ("bitnami/postgresql:15", "postgresql"),
        ("mcr.microsoft.com/mssql/server:2022-latest", "mssql/server"),
        ("localhost:5000/team/web:1", "web"),
        ("registry.example.com:443/nginx", "nginx"),
        ("Traefik:v3.0", "traefik"),
    ],
)
def test_an_image_is_known_by_its_name_without_registry_owner_or_tag(
    reference: str, family: str
) -> None:
    assert image_family(reference) == family


@pytest.mark.parametrize(
    ("config", "role", "said"),
    [
        ({"image": "postgres:16"}, Role.STATEFUL, "image postgres:16 holds data"),
        ({"image": "redis:7-alpine"}, Role.STATEFUL, "holds data"),
        ({"image": "nginx:1.27", "volumes": [{"type": "volume", "source": "static"}]},
         Role.PROXY, "image nginx:1.27"),
        ({"image": "grafana/grafana", "volumes": [{"type": "volume", "source": "g"}]},
         Role.STATEFUL, "named volume g holds its data"),
        ({"image": "grafana/grafana", "volumes": ["g:/var/lib/grafana:rw"]},
         Role.STATEFUL, "named volume g"),  # compose v1's short syntax
        ({"image": "a", "volumes": [{"type": "volume", "target": "/tmp/anon"}]}, Role.APP, ""),
        ({"build": {"context": "/nonexistent"}, "volumes": [{"type": "volume", "source": "u"}]},
         Role.APP, "builds its image"),
        ({"image": "postgres", "x-zdd": {"role": "app"}}, Role.APP, "x-zdd: role"),
        ({"image": "a", "x-zdd": {"role": "job"}}, Role.JOB, "x-zdd: role"),
    ],
)  # fmt: skip
def test_a_role_comes_from_evidence_not_the_name(
    config: dict[str, Any], role: Role, said: str
) -> None:
    evidence = role_of(config, {"g": {}})
    assert evidence.role is role and said in evidence.reason


def test_a_built_image_is_known_by_its_dockerfile_s_last_stage(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM node:20 AS assets\nRUN build\nFROM --platform=linux/amd64 nginx:1.27-alpine\n"
        "COPY --from=assets /out /usr/share/nginx/html\n"
    )
    evidence = role_of({"build": {"context": str(tmp_path)}, "image": "me/web"}, {})
    assert evidence.role is Role.PROXY and "FROM nginx:1.27-alpine" in evidence.reason
    (tmp_path / "Dockerfile").write_text("ARG BASE=nginx\nFROM ${BASE}\n")
    assert role_of({"build": {"context": str(tmp_path)}}, {}).role is Role.APP  # unknown: app


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ComposeFileError, match="x-zdd: role must be app, proxy"):
        role_of({"image": "a", "x-zdd": {"role": "database"}}, {})


STATIC = {
    "fixed proxy_pass": "server { location / { proxy_pass http://backend:8000/; } }",
    "upstream of names": "upstream up { server backend:8000; server app:8000 max_fails=1; }\n"
    "server { location / { proxy_pass http://up; } }",
    "a resolver does not help a fixed name": "resolver 127.0.0.11;\n"
    "server { location / { proxy_pass http://app:8000; } }",
    "an alias": "server { location /api { proxy_pass http://pool; } }",
}
DISCOVERS = {
    "resolver and a variable": "resolver 127.0.0.11 valid=1s;\nserver { location / {\n"
    "  set $up http://backend:8000;\n  proxy_pass $up; } }",
    "upstream server with resolve": "resolver 127.0.0.11;\nupstream up { zone z 64k; "
    "server backend:8000 resolve; }\nserver { location / { proxy_pass http://up; } }",
}


@pytest.mark.parametrize("text", list(STATIC))
def test_an_nginx_that_resolves_the_app_once_is_static(text: str) -> None:
    found = classify({"default.conf": STATIC[text]}, NAMES)
    assert found.routing is Routing.STATIC and "resolved once" in found.reason


@pytest.mark.parametrize("text", list(DISCOVERS))
def test_an_nginx_that_re_resolves_is_not_static(text: str) -> None:
    found = classify({"default.conf": DISCOVERS[text]}, NAMES)
    assert found.routing is not Routing.STATIC, found


def test_zdd_s_own_upstream_and_unrelated_configs() -> None:
    managed = "upstream app { server 127.0.0.1:9 down; include /etc/nginx/zdd/app/*.conf; }"
    assert classify({"n.conf": managed}, NAMES).routing is Routing.MANAGED
    elsewhere = "server { location / { proxy_pass http://example.org; } }  # not ours"
    assert classify({"n.conf": elsewhere}, NAMES).routing is Routing.UNKNOWN
    commented = "# proxy_pass http://backend:8000;\nserver { root /srv; }"
    assert classify({"n.conf": commented}, NAMES).routing is Routing.UNKNOWN


def test_configs_are_read_from_bind_mounts_and_the_build_context_only_as_small_files(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "default.conf").write_text(STATIC["fixed proxy_pass"])
    (conf / "notes.txt").write_text("proxy_pass http://backend;")  # not a config file
    (conf / "big.conf").write_text("proxy_pass http://app;" + " " * (2 << 20))
    context = tmp_path / "nginx"
    (context / "sites").mkdir(parents=True)
    (context / "sites" / "site.conf").write_text(DISCOVERS["resolver and a variable"])
    (context / "link.conf").symlink_to("/etc/passwd")
    config = {
        "volumes": [{"type": "bind", "source": str(conf), "target": "/etc/nginx/conf.d"}],
        "build": {"context": str(context)},
    }
    assert sorted(config_texts(config)) == [
        str(conf / "default.conf"), str(context / "sites" / "site.conf")
    ]  # fmt: skip
    v1 = {"volumes": [f"{conf / 'default.conf'}:/etc/nginx/conf.d/default.conf:ro"]}
    assert list(config_texts(v1)) == [str(conf / "default.conf")]


def test_upstreams_are_read_across_files_and_templates_are_fixed_text() -> None:
    split = {
        "conf.d/00-upstreams.conf": "upstream backend { server app:8000; }",
        "conf.d/default.conf": "server { location / { proxy_pass http://backend; } }",
    }
    assert classify(split, NAMES).routing is Routing.STATIC, "the upstream in another file"
    variable_path = {
        "d.conf": "resolver 127.0.0.11;\nupstream backend { server app:8000; }\n"
        "server { location / { proxy_pass http://backend$request_uri; } }"
    }
    assert classify(variable_path, NAMES).routing is Routing.STATIC, "the host is the upstream"
    template = {
        "default.conf.template": "resolver 127.0.0.11;\n"
        "server { location / { proxy_pass http://${BACKEND}:8000; } }"
    }
    assert classify(template, NAMES).routing is Routing.UNKNOWN, "envsubst'd once: not dynamic"


def test_configs_come_from_compose_configs_too_and_a_walk_is_bounded(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text(STATIC["fixed proxy_pass"])
    top = {"nginx_site": {"file": str(site)}}
    assert list(config_texts({"configs": [{"source": "nginx_site"}]}, top)) == [str(site)]
    assert list(config_texts({"configs": ["nginx_site"]}, top)) == [str(site)], "short syntax"
    repo = tmp_path / "repo"
    for index in range(600):  # a build context with many files: looked at, not all read
        (repo / f"d{index % 3}").mkdir(parents=True, exist_ok=True)
        (repo / f"d{index % 3}" / f"f{index}.conf").write_text("proxy_pass http://app;")
    assert len(config_texts({"build": {"context": str(repo)}})) <= 64


@pytest.mark.parametrize(
    ("resolver", "keeps"),
    [("valid=30s", 30), ("valid=500ms", 0.5), ("valid=1m", 60), ("valid=0", 600), ("", 600)],
)
def test_how_long_a_resolver_keeps_an_answer(resolver: str, keeps: float) -> None:
    """nginx's `valid=` in its time units; without it (or `valid=0`) the answer's own TTL,
    600 s from Docker's DNS."""
    text = f"resolver 127.0.0.11 {resolver};\nserver {{ location / {{\n"
    text += "  set $up http://backend:8000;\n  proxy_pass $up; } }"
    found = classify({"default.conf": text}, NAMES)
    assert found.routing is Routing.DISCOVERS and found.keeps == keeps
