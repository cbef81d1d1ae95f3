"""Compose project loading: formats, extends, files, env, project names, errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zdd.errors import ComposeFileError, ExitCode, UsageError, ZddError
from zdd.project import Group, service_port

from .conftest import SEED, Load, Write

SPEC_BODY = """
services:
  app:
    build: service
    environment:
      - VIRTUAL_HOST=localhost
  service_a:
    extends:
      service: app
  service_b:
    extends:
      service: app
"""
SEED_GROUPS = (("app", ("service_a", "service_b")),)
VOLUME_TWO = {
    "type": "bind",
    "source": "<tmp>/proj/two",
    "target": "/data",
    "bind": {"create_host_path": True},
}
PORT_3000, PORT_4000 = ({"mode": "ingress", "target": p, "protocol": "tcp"} for p in (3000, 4000))


@dataclass(frozen=True)
class Case:
    """One compose-file case: the files to write, how to load them, what zdd must see."""

    files: Mapping[str, str]
    groups: tuple[tuple[str, tuple[str, ...]], ...]
    name: str = "proj"
    args: tuple[str, ...] = ()  # -f files
    cwd: str = "proj"
    environ: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    legacy: bool = False
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # subsets, compose v2
    v1: bool = True  # compose v1 reads it too
    used: tuple[str, ...] = ()  # the files in use, relative to tmp_path


CASES = {
    # formats
    "legacy-v1-seed": Case(
        {"legacy/docker-compose.yml": SEED},
        SEED_GROUPS,
        name="legacy",
        cwd="legacy",
        legacy=True,
        config={
            "service_a": {
                "build": {"context": "<tmp>/legacy/service", "dockerfile": "Dockerfile"},
                "restart": "always",
                "network_mode": "bridge",
            }
        },
    ),
    "version-2.4": Case({"proj/compose.yaml": 'version: "2.4"\n' + SPEC_BODY}, SEED_GROUPS),
    "version-3.8": Case({"proj/compose.yaml": 'version: "3.8"\n' + SPEC_BODY}, SEED_GROUPS),
    "spec-no-version": Case(
        {"proj/compose.yaml": SPEC_BODY},
        SEED_GROUPS,
        config={
            "service_b": {
                "build": {"context": "<tmp>/proj/service", "dockerfile": "Dockerfile"},
                "environment": {"VIRTUAL_HOST": "localhost"},
            }
        },
    ),
    # extends
    "extends-string-shorthand": Case(
        {"proj/compose.yaml": "services:\n  app: {image: a}\n  web: {extends: app}\n"},
        (("app", ("web",)),),
        config={"web": {"image": "a"}},
    ),
    "extends-sibling-overrides-base": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: a, environment: {A: "1", B: "1"}, ports: ["3000"]}
                  web:
                    extends: {service: app}
                    environment: {B: "2"}
                    ports: ["4000"]
                """
        },
        (("app", ("web",)),),
        config={"web": {"environment": {"A": "1", "B": "2"}, "ports": [PORT_3000, PORT_4000]}},
    ),
    "extends-file-in-subdirectory": Case(
        {
            "proj/compose.yaml": """
                services:
                  web:
                    extends: {file: common/base.yml, service: app}
                """,
            "proj/common/base.yml": "services:\n  app:\n    build: ctx\n",
        },
        (("common/base.yml#app", ("web",)),),
        config={"web": {"build": {"context": "<tmp>/proj/common/ctx", "dockerfile": "Dockerfile"}}},
    ),
    "extends-file-of-a-second-file-is-relative-to-the-project": Case(  # compose v2's rule
        {
            "proj/compose.yaml": "services:\n  app: {image: a}\n  web: {extends: app}\n",
            "proj/more/extra.yaml": """
                services:
                  worker:
                    extends: {file: lib/base.yml, service: job}
                """,
            "proj/lib/base.yml": "services:\n  job: {image: j, build: .}\n",
        },
        (("app", ("web",)), ("lib/base.yml#job", ("worker",))),
        args=("compose.yaml", "more/extra.yaml"),
        config={
            "worker": {
                "image": "j",
                "build": {"context": "<tmp>/proj/lib", "dockerfile": "Dockerfile"},
            }
        },
        v1=False,
    ),
    "extends-chain": Case(
        {
            "proj/compose.yaml": """
                services:
                  a: {image: a, environment: {FROM_A: "1"}}
                  b: {extends: a, environment: {FROM_B: "1"}}
                  c: {extends: {service: b}}
                """
        },
        (("a", ("c",)),),
        config={"c": {"image": "a", "environment": {"FROM_A": "1", "FROM_B": "1"}}},
    ),
    "two-groups": Case(
        {
            "proj/compose.yaml": """
                services:
                  api: {build: api}
                  api-1: {extends: api}
                  api-2: {extends: api}
                  worker: {build: worker}
                  worker-1: {extends: worker}
                  db: {image: postgres}
                """
        },
        (("api", ("api-1", "api-2")), ("worker", ("worker-1",))),
    ),
    "names-with-dashes-and-dots": Case(
        {
            "proj/compose.yaml": """
                services:
                  web-app: {image: w}
                  web.v1: {extends: web-app}
                  web-v2.blue: {extends: {service: web-app}}
                """
        },
        (("web-app", ("web.v1", "web-v2.blue")),),
    ),
    # files
    "multi-file-later-overrides": Case(
        {
            "proj/compose.yaml": SPEC_BODY,
            "proj/prod.yaml": """
                services:
                  app: {image: "registry/app:2"}
                  service_b: {environment: [VIRTUAL_HOST=example.com]}
                """,
        },
        SEED_GROUPS,
        args=("compose.yaml", "prod.yaml"),
        # compose applies `extends` within each file, then merges the files: the override
        # of `app` does not reach service_b (compose v2; v1 resolves after merging)
        config={"service_b": {"environment": {"VIRTUAL_HOST": "example.com"}}},
        used=("proj/compose.yaml", "proj/prod.yaml"),
    ),
    "override-with-only-top-level-spec-keys": Case(
        {
            "proj/compose.yaml": SPEC_BODY,
            "proj/networks.yaml": "networks:\n  default: {name: shared}\nx-note: 1\n",
        },
        SEED_GROUPS,
        args=("compose.yaml", "networks.yaml"),
    ),
    "yaml-anchors-and-x-fields": Case(
        {
            "proj/compose.yaml": """
                x-common: &common
                  image: app
                  restart: always
                services:
                  app: {<<: *common, build: .}
                  web: {extends: app, restart: "no"}
                """
        },
        (("app", ("web",)),),
        config={
            "web": {
                "image": "app",
                "restart": "no",
                "build": {"context": "<tmp>/proj", "dockerfile": "Dockerfile"},
            }
        },
    ),
    "compose-file-env-colon-separated": Case(
        {
            "proj/base.yaml": SPEC_BODY,
            "proj/extra.yaml": """
                services:
                  service_c: {extends: {file: base.yaml, service: app}}
                """,
        },
        (("app", ("service_a", "service_b", "service_c")),),
        environ={"COMPOSE_FILE": "base.yaml:extra.yaml"},
        used=("proj/base.yaml", "proj/extra.yaml"),
    ),
    "default-compose-yaml-with-override": Case(
        {
            "proj/compose.yaml": SPEC_BODY,
            "proj/compose.override.yaml": "services:\n  service_a: {image: overridden}\n",
            "proj/docker-compose.yml": "services: {ignored: {image: x}}\n",
        },
        SEED_GROUPS,
        config={"service_a": {"image": "overridden"}},
        used=("proj/compose.yaml", "proj/compose.override.yaml"),
    ),
    "default-docker-compose-yml-with-override": Case(
        {
            "proj/docker-compose.yml": SEED,
            "proj/docker-compose.override.yml": "service_b:\n  environment: [EXTRA=1]\n",
        },
        SEED_GROUPS,
        legacy=True,
        config={
            "service_b": {
                "environment": {"VIRTUAL_HOST": "localhost", "VIRTUAL_PORT": "3000", "EXTRA": "1"}
            }
        },
        used=("proj/docker-compose.yml", "proj/docker-compose.override.yml"),
    ),
    "default-file-found-in-parent-directory": Case(
        {"proj/compose.yaml": SPEC_BODY, "proj/deep/er/.keep": ""},
        SEED_GROUPS,
        cwd="proj/deep/er",
        used=("proj/compose.yaml",),
    ),
    # interpolation
    "dotenv-braced-and-defaults": Case(
        {
            "proj/.env": """
                TAG=v7
                EMPTY=
                # a comment
                QUOTED='a b'
                export NOTE="v1" # a comment after the quotes
                PLAIN=x # a comment
                """,
            "proj/compose.yaml": """
                services:
                  app:
                    image: "app:${TAG}"
                    environment:
                      COLON_DEFAULT: "${EMPTY:-fallback}"
                      DASH_DEFAULT_SET_EMPTY: "${EMPTY-fallback}"
                      DASH_DEFAULT_UNSET: "${UNSET-fallback}"
                      COLON_DEFAULT_UNSET: "${UNSET:-fb}"
                      QUOTED: "${QUOTED}"
                      NOTE: "${NOTE}"
                      PLAIN: "${PLAIN}"
                      BARE: "$TAG"
                      ESCAPED: "$$HOME and $${TAG}"
                  web: {extends: app}
                """,
        },
        (("app", ("web",)),),
        config={
            "web": {
                "image": "app:v7",
                "environment": {
                    "COLON_DEFAULT": "fallback",
                    "DASH_DEFAULT_SET_EMPTY": "",
                    "DASH_DEFAULT_UNSET": "fallback",
                    "COLON_DEFAULT_UNSET": "fb",
                    "QUOTED": "a b",
                    "NOTE": "v1",
                    "PLAIN": "x",
                    "BARE": "v7",
                    "ESCAPED": "$$HOME and $${TAG}",  # compose keeps `$$` in its output
                },
            }
        },
    ),
    "env-file-option-replaces-dotenv": Case(
        {
            "proj/.env": "TAG=from-dotenv\n",
            "proj/conf/prod.env": "TAG=from-env-file\n",
            "proj/compose.yaml": "services:\n  app: {image: 'app:${TAG}'}\n  web: {extends: app}\n",
        },
        (("app", ("web",)),),
        options={"env_file": "conf/prod.env"},
        config={"web": {"image": "app:from-env-file"}},
    ),
    "shell-env-wins-over-dotenv": Case(
        {
            "proj/.env": "TAG=from-dotenv\nOTHER=kept\n",
            "proj/compose.yaml": """
                services:
                  app: {image: "app:${TAG}", environment: {O: "${OTHER}"}}
                  web: {extends: app}
                """,
        },
        (("app", ("web",)),),
        environ={"TAG": "from-shell"},
        config={"web": {"image": "app:from-shell", "environment": {"O": "kept"}}},
    ),
    "extended-file-is-interpolated": Case(
        {
            "proj/.env": "TAG=v3\n",
            "proj/compose.yaml": """
                services:
                  web: {extends: {file: lib/base.yml, service: app}}
                """,
            "proj/lib/base.yml": "services:\n  app: {image: 'app:${TAG:-latest}'}\n",
        },
        (("lib/base.yml#app", ("web",)),),
        config={"web": {"image": "app:v3"}},
    ),
    # what the hand-written reader got wrong (issue 11): compose's own answer now
    "nested-default": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: "app:${TAG:-${FALLBACK:-latest}}"}
                  web: {extends: app}
                """
        },
        (("app", ("web",)),),
        config={"web": {"image": "app:latest"}},
    ),
    "multi-line-dotenv-value": Case(
        {
            "proj/.env": 'NOTE="line one\nline two"\n',
            "proj/compose.yaml": """
                services:
                  app: {image: a, environment: {NOTE: "${NOTE}"}}
                  web: {extends: app}
                """,
        },
        (("app", ("web",)),),
        config={"web": {"environment": {"NOTE": "line one\nline two"}}},
        v1=False,  # compose v1 reads the first line only
    ),
    "include": Case(
        {
            "proj/compose.yaml": "include: [apps.yaml]\nservices:\n  proxy: {image: n}\n",
            "proj/apps.yaml": SPEC_BODY,
        },
        SEED_GROUPS,
        v1=False,  # compose v1 has no `include`
    ),
    "a-sibling-in-an-inactive-profile-is-left-out": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: a}
                  service_a: {extends: app}
                  service_b: {extends: app, profiles: [canary]}
                """
        },
        (("app", ("service_a",)),),
        v1=False,  # compose v1 has no profiles
    ),
    "an-active-profile-brings-it-in": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: a}
                  service_a: {extends: app}
                  service_b: {extends: app, profiles: [canary]}
                """
        },
        SEED_GROUPS,
        environ={"COMPOSE_PROFILES": "canary"},
        v1=False,
    ),
    "a-base-in-an-inactive-profile-is-a-template": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: a, profiles: [template]}
                  service_a: {extends: app, profiles: !reset []}
                  service_b: {extends: app, profiles: !reset []}
                """
        },
        SEED_GROUPS,
        v1=False,
    ),
    "two-mounts-on-one-target-merge-as-compose-does": Case(
        {
            "proj/compose.yaml": """
                services:
                  app: {image: a, volumes: ["./one:/data"]}
                  web: {extends: app, volumes: ["./two:/data"]}
                """
        },
        (("app", ("web",)),),
        config={"web": {"volumes": [VOLUME_TWO]}},
        v1=False,
    ),
    # project names
    "name-from-p": Case(
        {"proj/compose.yaml": "name: from-file\n" + SPEC_BODY},
        SEED_GROUPS,
        name="from-p",
        environ={"COMPOSE_PROJECT_NAME": "from-env"},
        options={"project_name": "from-p"},
        v1=False,  # compose v1 refuses a top-level `name:`
    ),
    "name-from-compose-project-name": Case(
        {"proj/compose.yaml": "name: from-file\n" + SPEC_BODY},
        SEED_GROUPS,
        name="from-env",
        environ={"COMPOSE_PROJECT_NAME": "from-env"},
        v1=False,  # compose v1 refuses a top-level `name:`
    ),
    "name-from-dotenv-compose-project-name": Case(
        {"proj/.env": "COMPOSE_PROJECT_NAME=dotenv_name\n", "proj/compose.yaml": SPEC_BODY},
        SEED_GROUPS,
        name="dotenv_name",
    ),
    "name-from-top-level-name-lowercased": Case(  # as compose v2 does
        {"proj/compose.yaml": "name: MyProject\n" + SPEC_BODY},
        SEED_GROUPS,
        name="myproject",
        v1=False,
    ),
    "name-from-top-level-name": Case(
        {"proj/compose.yaml": "name: from-file\n" + SPEC_BODY},
        SEED_GROUPS,
        name="from-file",
        v1=False,  # compose v1 refuses a top-level `name:`
    ),
    "name-from-directory-normalised": Case(
        {"My.App_1/compose.yaml": SPEC_BODY}, SEED_GROUPS, name="myapp_1", cwd="My.App_1"
    ),
    "name-from-project-directory": Case(
        {"elsewhere/Site-2/compose.yaml": SPEC_BODY},
        SEED_GROUPS,
        name="site-2",
        cwd="",
        options={"project_directory": "elsewhere/Site-2"},
    ),
}


def _expand(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("<tmp>", str(tmp))
    if isinstance(value, dict):
        return {k: _expand(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, tmp) for v in value]
    return value


BUILD_CONTEXTS = ("service", "api", "worker", "common/ctx")
RUNS = [pytest.param(case, 2, id=f"{name}-v2") for name, case in CASES.items()] + [
    pytest.param(case, 1, id=f"{name}-v1") for name, case in CASES.items() if case.v1
]


@pytest.mark.parametrize(("case", "major"), RUNS)
def test_load_project(case: Case, major: int, tmp_path: Path, write: Write, load: Load) -> None:
    """Compose's own answer (its `config`), v2 and v1, joined with zdd's groups."""
    for relative, text in case.files.items():
        path = write(relative, text)
        for context in BUILD_CONTEXTS:  # compose v1's `config` checks that a context exists
            (path.parent / context).mkdir(parents=True, exist_ok=True)
    project = load(*case.args, cwd=case.cwd, environ=case.environ, compose=major, **case.options)
    assert project.name == case.name
    assert project.legacy is case.legacy
    assert [(g.base, g.siblings) for g in project.groups] == list(case.groups)
    for group in project.groups:
        assert group.base_in_project is (group.base in project.services)
    for service, expected in case.config.items() if major == 2 else ():
        config = project.services[service].config
        assert "extends" not in config
        for key, value in expected.items():
            assert config[key] == _expand(value, tmp_path), key
    if case.used:
        assert project.files == tuple(tmp_path / f for f in case.used)


def test_case_matrix_is_large_enough() -> None:
    assert len(CASES) >= 20


def test_chain_records_parents_and_templates(write: Write, load: Load) -> None:
    write("p/compose.yaml", "services:\n  a: {image: a}\n  b: {extends: a}\n  c: {extends: b}\n")
    project = load(cwd="p")
    assert [(s.name, s.parent) for s in project.services.values()] == [
        ("a", None),
        ("b", "a"),
        ("c", "b"),
    ]
    assert project.groups == (Group("a", ("c",)),)


def test_compose_v1_own_rule_on_extending_links_is_one_line(write: Write, load: Load) -> None:
    """zdd no longer re-implements v1's `extends` rules: compose v1 answers, in one line."""
    write(
        "p/docker-compose.yml",
        """
        db: {image: postgres}
        app: {image: a, links: [db], net: bridge, environment: [A=1]}
        web: {extends: {service: app}}
        """,
    )
    with pytest.raises(ComposeFileError, match=r"services with 'links' cannot be extended$"):
        load(cwd="p", compose=1)


@dataclass(frozen=True)
class Bad:
    """A case that must fail with one line and an exit code."""

    files: Mapping[str, str]
    message: str  # regex, searched in the one-line message
    args: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    error: type[ZddError] = ComposeFileError
    cwd: str = "p"


BAD = {
    "malformed-yaml-names-file-and-line": Bad(
        {"p/compose.yaml": "services:\n  app:\n    image: x\n   bad: 1\n"},
        r"^/.*/p/compose\.yaml:4: invalid YAML: ",
    ),
    "empty-file": Bad({"p/compose.yaml": ""}, r"compose\.yaml: the file is empty$"),
    "top-level-not-a-mapping": Bad(
        {"p/compose.yaml": "- a\n- b\n"}, r"top level must be a mapping, got list"
    ),
    "missing-f-file": Bad(
        {"p/compose.yaml": SPEC_BODY}, r"^compose file not found: nope\.yml$", args=("nope.yml",)
    ),
    "missing-compose-file-env-entry": Bad(
        {"p/compose.yaml": SPEC_BODY},
        r"compose file not found: gone\.yaml",
        environ={"COMPOSE_FILE": "compose.yaml:gone.yaml"},
    ),
    "no-default-file": Bad({"p/README": "x"}, r"^no compose file in .*/p or its parents"),
    "stdin-not-supported": Bad({"p/compose.yaml": SPEC_BODY}, r"stdin", args=("-",)),
    "no-services": Bad({"p/compose.yaml": "services: {}\n"}, r"^no services in .*compose\.yaml"),
    "extends-cycle": Bad(
        {"p/compose.yaml": "services:\n  a: {extends: b}\n  b: {extends: {service: a}}\n"},
        # compose walks its services in map order: either one is named
        r"^compose rejects the project: Circular reference: [ab] in .*/p/compose\.yaml$",
    ),
    "extends-self": Bad(
        {"p/compose.yaml": "services:\n  a: {image: x, extends: a}\n"},
        r"^compose rejects the project: Circular reference: a in ",
    ),
    "extends-cycle-across-files": Bad(
        {
            "p/compose.yaml": "services:\n  web: {extends: {file: lib.yml, service: x}}\n",
            "p/lib.yml": "services:\n  x: {extends: y}\n  y: {extends: x}\n",
        },
        r"^compose rejects the project: Circular reference: web in lib\.yml$",
    ),
    "extends-unknown-service": Bad(
        {"p/compose.yaml": "services:\n  a: {image: x}\n  b: {extends: nope}\n"},
        r'cannot extend service "b" in .*compose\.yaml: service "nope" not found$',
    ),
    "extends-missing-file": Bad(
        {"p/compose.yaml": "services:\n  b: {extends: {file: gone.yml, service: a}}\n"},
        r"open .*/p/gone\.yml: no such file or directory$",
    ),
    "extends-without-service": Bad(
        {"p/compose.yaml": "services:\n  b: {extends: {file: x.yml}}\n"},
        r"extends\.b\.service is required$",
    ),
    "duplicate-key": Bad(  # PyYAML keeps the last one silently; compose refuses
        {"p/compose.yaml": "services:\n  a: {image: x}\n  a: {image: y}\n"},
        r'mapping key "a" already defined',
    ),
    "mixed-legacy-and-spec": Bad(
        {"p/a.yml": "app: {image: a}\n", "p/b.yml": "services:\n  app: {image: b}\n"},
        r"^cannot mix the legacy v1 format",
        args=("a.yml", "b.yml"),
    ),
    "required-variable": Bad(
        {"p/compose.yaml": "services:\n  a: {image: '${TAG:?set TAG first}'}\n"},
        r"services\.a\.image: required variable TAG is missing a value: set TAG first$",
    ),
    "invalid-interpolation": Bad(
        {"p/compose.yaml": "services:\n  a: {image: 'cost ${5'}\n"}, r"invalid interpolation"
    ),
    "bad-env-file-line": Bad(
        {"p/.env": "OK=1\nnot a pair\n", "p/compose.yaml": SPEC_BODY},
        r"failed to read .*/p/\.env: line 2: key cannot contain a space$",
    ),
    "missing-env-file": Bad(
        {"p/compose.yaml": SPEC_BODY},
        r"couldn't find env file: .*/p/nope\.env$",
        options={"env_file": "nope.env"},
    ),
    "invalid-explicit-p": Bad(
        {"p/compose.yaml": SPEC_BODY},
        r'invalid project name "My App": must consist only of lowercase',
        options={"project_name": "My App"},
    ),
    "invalid-compose-project-name": Bad(
        {"p/compose.yaml": SPEC_BODY},
        r'invalid project name "-x"',
        environ={"COMPOSE_PROJECT_NAME": "-x"},
    ),
    "directory-name-without-usable-characters": Bad(
        {"..../compose.yaml": SPEC_BODY},
        r"project name must not be empty$",
        args=("..../compose.yaml",),
        cwd="",
    ),
}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_load_errors(bad: Bad, write: Write, load: Load) -> None:
    for relative, text in bad.files.items():
        write(relative, text)
    with pytest.raises(bad.error) as caught:
        load(*bad.args, cwd=bad.cwd, environ=bad.environ, **bad.options)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(bad.message, message), message
    assert caught.value.exit_code is ExitCode.USAGE and ExitCode.USAGE.value == 2


def test_real_environment_is_never_read(
    write: Write, load: Load, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", "from-os-environ")
    monkeypatch.setenv("COMPOSE_FILE", "does-not-exist.yml")
    write("p/compose.yaml", "services:\n  app: {image: 'app:${TAG:-none}'}\n")
    monkeypatch.setenv("TAG", "from-os-environ")
    project = load(cwd="p")
    assert project.name == "p"
    assert project.services["app"].config["image"] == "app:none"


@pytest.fixture
def two_groups(write: Write, load: Load) -> Any:
    write(
        "p/compose.yaml",
        """
        services:
          proxy: {image: nginx}
          app: {build: .}
          service_a: {extends: app}
          service_b: {extends: app}
          worker: {build: w}
          worker-1: {extends: worker}
        """,
    )
    return load(cwd="p")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ((), (("app", ("service_a", "service_b")), ("worker", ("worker-1",)))),
        (("service_b",), (("app", ("service_b",)),)),
        (("app",), (("app", ("service_a", "service_b")),)),
        (("worker-1", "service_a"), (("app", ("service_a",)), ("worker", ("worker-1",)))),
    ],
)
def test_select_narrows(two_groups: Any, names: tuple[str, ...], expected: Any) -> None:
    assert [(g.base, g.siblings) for g in two_groups.select(names)] == list(expected)


def test_select_unknown_service_lists_known_ones(two_groups: Any) -> None:
    with pytest.raises(UsageError) as caught:
        two_groups.select(["service_c"])
    assert str(caught.value) == (
        "unknown service 'service_c'; services in p: "
        "proxy, app, service_a, service_b, worker, worker-1"
    )
    assert caught.value.exit_code == 2


def test_a_service_outside_any_group_is_a_single(two_groups: Any) -> None:
    assert two_groups.select(["proxy", "service_a"]) == (
        two_groups.groups[0].__class__("app", ("service_a",)),
    )
    assert two_groups.singles(["proxy", "service_a", "proxy"], "proxy") == ("proxy",)
    assert two_groups.singles([], "proxy") == (), "groups and no name: the groups only"


def test_describe_groups(two_groups: Any) -> None:
    assert two_groups.describe_groups() == "app: service_a, service_b; worker: worker-1"


@pytest.mark.parametrize(
    ("config", "port"),
    [
        ({"expose": "3000"}, 3000),  # a string, not a list of "3", "0", "0", "0"
        ({"expose": 3000}, 3000),
        ({"ports": "8080:3000"}, 3000),
        ({"ports": ["127.0.0.1:8080:3000/tcp"]}, 3000),
        ({"ports": [{"target": 3000, "published": 8080}]}, 3000),
        ({"x-zdd": {"port": "3000"}, "expose": ["80"]}, 3000),
    ],
)
def test_service_port_reads_every_valid_shape(config: dict[str, object], port: int) -> None:
    assert service_port(config) == port


def test_two_other_files_with_one_base_name_keep_their_own_config(write: Write, load: Load) -> None:
    write("x/docker-compose.yml", "services:\n  app: {image: one}\n")
    write("y/docker-compose.yml", "services:\n  app: {image: two}\n")
    write(
        "p/compose.yaml",
        "services:\n  a: {extends: {file: ../x/docker-compose.yml, service: app}}\n"
        "  b: {extends: {file: ../y/docker-compose.yml, service: app}}\n",
    )
    project = load(cwd="p")
    assert {n: s.config["image"] for n, s in project.services.items()} == {"a": "one", "b": "two"}
    assert project.groups == (  # two templates, not one group: they are two files
        Group("../x/docker-compose.yml#app", ("a",), base_in_project=False),
        Group("../y/docker-compose.yml#app", ("b",), base_in_project=False),
    )


def test_a_yaml_alias_that_contains_itself_is_one_error(write: Write, load: Load) -> None:
    write("p/compose.yaml", "x-a: &x [1, *x]\nservices:\n  app: {image: a}\n")
    with pytest.raises(ComposeFileError, match="a YAML alias that contains itself"):
        load(cwd="p")
