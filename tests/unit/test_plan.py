"""The plan (argv by argv against the seed's script) and the legacy v1 translation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zdd.compose import ComposeBinary, ComposeCli
from zdd.errors import ExitCode, UsageError
from zdd.order import Order
from zdd.plan import (
    Command,
    DeployOptions,
    Gate,
    GatePolicy,
    GateSource,
    Plan,
    Verb,
    build_plan,
)
from zdd.project import Project, healthcheck_of, parse_duration
from zdd.proxy import ProxyMode

from .conftest import UNSEEN, Load, Write

V1 = ComposeBinary(("docker-compose",), "1.29.2")
SEED_URL = "http://127.0.0.1:3000/"  # the seed siblings' port, asked inside them
SEED_ANSWERS_GATE = ("gate", GatePolicy.ANSWERS, 60.0, 5.0)  # no healthcheck: `/` on port 3000
NO_PORT_GATE = ("gate", GatePolicy.DELAY, 5.0, 5.0)  # no healthcheck, no port: the seed's sleep
TAG_A = "docker tag -- legacy_app legacy_service_a"
TAG_B = "docker tag -- legacy_app legacy_service_b"


def _cli(project: Project) -> ComposeCli:
    return ComposeCli(binary=V1, files=project.files, project_name=project.name)


def _steps(plan: Plan, project: Project) -> list[Any]:
    """Each step as the argv after the shared base, or a ("gate", ...) tuple."""
    base = ("docker-compose", *(a for f in project.files for a in ("-f", str(f))), "-p")
    base += (project.name,)
    described: list[Any] = []
    for step in plan.steps:
        if isinstance(step, Command) and step.verb is Verb.TAG:
            described.append(" ".join(step.argv))
        elif isinstance(step, Command):
            assert step.argv[: len(base)] == base
            described.append(" ".join(step.argv[len(base) :]))
        else:
            assert isinstance(step, Gate)
            described.append(("gate", step.policy, step.budget, step.delay))
    return described


@pytest.fixture
def seed(seed_file: Path, load: Load) -> Project:
    return load(str(seed_file))


def test_seed_plan_is_the_seed_sequence_with_one_build(seed: Project, seed_file: Path) -> None:
    """The seed's commands, except that the context is built once (as `app`) and each sibling
    is tagged with that image just before it is replaced."""
    cli = ComposeCli(binary=V1, files=(seed_file,), project_name="legacy")
    plan = build_plan(seed, cli, DeployOptions())
    base = ("docker-compose", "-f", str(seed_file), "-p", "legacy")
    commands = [s for s in plan.steps if isinstance(s, Command) and s.verb is not Verb.TAG]
    assert all(c.argv[:5] == base for c in commands)
    assert [c.argv[5:] for c in commands] == [
        ("build", "--no-cache", "--", "app"),
        ("stop", "--", "service_a"),
        ("up", "-d", "--no-deps", "--no-build", "--force-recreate", "--", "service_a"),
        ("stop", "--", "service_b"),
        ("up", "-d", "--no-deps", "--no-build", "--force-recreate", "--", "service_b"),
    ]
    tags = [s.argv for s in plan.steps if isinstance(s, Command) and s.verb is Verb.TAG]
    assert tags == [
        ("docker", "tag", "--", "legacy_app", "legacy_service_a"),
        ("docker", "tag", "--", "legacy_app", "legacy_service_b"),
    ]
    kinds = ["gate" if isinstance(s, Gate) else str(s.verb) for s in plan.steps]
    assert kinds == ["build", "tag", "stop", "up", "gate", "tag", "stop", "up", "gate"]
    gates = [s for s in plan.steps if isinstance(s, Gate)]
    assert gates == [
        Gate("service_a", GatePolicy.ANSWERS, 60.0, 5.0, SEED_URL, source=GateSource.UNSEEN),
        Gate("service_b", GatePolicy.ANSWERS, 60.0, 5.0, SEED_URL, source=GateSource.UNSEEN),
    ]
    assert plan.siblings == ("service_a", "service_b")
    assert [c.service for c in commands] == [
        None,
        "service_a",
        "service_a",
        "service_b",
        "service_b",
    ]


def test_seed_plan_describes_itself(seed: Project, seed_file: Path) -> None:
    plan = build_plan(seed, _cli(seed), DeployOptions())
    base = f"docker-compose -f {seed_file} -p legacy"
    assert [s.describe() for s in plan.steps] == [
        f"{base} build --no-cache -- app",
        "docker tag -- legacy_app legacy_service_a",
        f"{base} stop -- service_a",
        f"{base} up -d --no-deps --no-build --force-recreate -- service_a",
        f"# wait until {SEED_URL} answers below 500 in service_a (no healthcheck; at most 60 s)"
        + UNSEEN,
        "docker tag -- legacy_app legacy_service_b",
        f"{base} stop -- service_b",
        f"{base} up -d --no-deps --no-build --force-recreate -- service_b",
        f"# wait until {SEED_URL} answers below 500 in service_b (no healthcheck; at most 60 s)"
        + UNSEEN,
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            DeployOptions(stop_timeout=30),
            [
                "build --no-cache -- app",
                TAG_A,
                "stop -t 30 -- service_a",
                "up -d --no-deps --no-build --force-recreate -- service_a",
                SEED_ANSWERS_GATE,
                TAG_B,
                "stop -t 30 -- service_b",
                "up -d --no-deps --no-build --force-recreate -- service_b",
                SEED_ANSWERS_GATE,
            ],
            id="stop-timeout",
        ),
        pytest.param(
            DeployOptions(services=("service_b",)),
            [
                "build --no-cache -- app",
                TAG_B,
                "stop -- service_b",
                "up -d --no-deps --no-build --force-recreate -- service_b",
                SEED_ANSWERS_GATE,
            ],
            id="narrowed-to-one-sibling",
        ),
        pytest.param(
            DeployOptions(services=("app",)),
            [
                "build --no-cache -- app",
                TAG_A,
                "stop -- service_a",
                "up -d --no-deps --no-build --force-recreate -- service_a",
                SEED_ANSWERS_GATE,
                TAG_B,
                "stop -- service_b",
                "up -d --no-deps --no-build --force-recreate -- service_b",
                SEED_ANSWERS_GATE,
            ],
            id="base-selects-its-group",
        ),
        pytest.param(
            DeployOptions(build=False, delay=2),
            [
                "stop -- service_a",
                "up -d --no-deps --no-build --force-recreate -- service_a",
                ("gate", GatePolicy.ANSWERS, 60.0, 2.0),
                "stop -- service_b",
                "up -d --no-deps --no-build --force-recreate -- service_b",
                ("gate", GatePolicy.ANSWERS, 60.0, 2.0),
            ],
            id="no-build",
        ),
        pytest.param(
            DeployOptions(no_cache=False, pull=True, health_timeout=60),
            [
                "build --pull -- app",
                TAG_A,
                "stop -- service_a",
                "up -d --no-deps --no-build --force-recreate -- service_a",
                ("gate", GatePolicy.ANSWERS, 60.0, 5.0),
                TAG_B,
                "stop -- service_b",
                "up -d --no-deps --no-build --force-recreate -- service_b",
                ("gate", GatePolicy.ANSWERS, 60.0, 5.0),
            ],
            id="cache-pull-health-timeout",
        ),
    ],
)
def test_seed_plan_options(seed: Project, options: DeployOptions, expected: list[Any]) -> None:
    assert _steps(build_plan(seed, _cli(seed), options), seed) == expected


HEALTHY = """
services:
  app:
    build: .
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:3000/"]
      interval: 2s
      timeout: 1s
      retries: 3
      start_period: 5s
  web: {extends: app}
  plain: {extends: app, healthcheck: {disable: true}}
"""


def test_healthcheck_gate_budget_follows_the_healthcheck(write: Write, load: Load) -> None:
    write("p/compose.yaml", HEALTHY)
    project = load(cwd="p")
    plan = build_plan(project, _cli(project), DeployOptions())
    gates = [s for s in plan.steps if isinstance(s, Gate)]
    # start_period 5 + (interval 2 + min(timeout 1, interval 2)) x (retries 3 + 1) + margin 10
    assert gates == [
        Gate("web", GatePolicy.HEALTHCHECK, 27.0, 5.0),
        Gate("plain", GatePolicy.DELAY, 5.0, 5.0),
    ]
    assert gates[0].describe() == "# wait until web is healthy (at most 27 s)"
    narrowed = build_plan(project, _cli(project), DeployOptions(health_timeout=12.5))
    assert next(s for s in narrowed.steps if isinstance(s, Gate)).budget == 12.5


@pytest.mark.parametrize(
    ("healthcheck", "budget"),
    [
        ({"test": ["CMD", "true"]}, 0 + (30 + 30) * 4 + 10),  # compose's defaults
        ({"test": "true", "interval": "10s", "timeout": "30s", "retries": 2}, (10 + 10) * 3 + 10),
        (
            {"test": "true", "interval": "1m", "start_period": "1m30s", "retries": 1},
            90 + (60 + 30) * 2 + 10,
        ),
        ({"test": "true", "interval": 5, "timeout": 2, "retries": 0}, 7 + 10),
        ({"test": ["NONE"]}, None),
        ({"test": "NONE"}, None),
        ({"disable": True, "test": "true"}, None),
        ({"interval": "5s"}, None),
        (None, None),
    ],
)
def test_healthcheck_of(healthcheck: Any, budget: float | None) -> None:
    config = {} if healthcheck is None else {"healthcheck": healthcheck}
    assert healthcheck_of(config) == budget


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("1h", 3600.0),
        ("2h1m", 7260.0),
        ("250us", 0.00025),
        (" 10s ", 10.0),
        (10, 10.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "s", "5 s", "abc", "1x", "5s junk", "-5s", "1d"])
def test_parse_duration_rejects(value: str) -> None:
    with pytest.raises(UsageError, match=r"invalid duration .*\(examples: 5s, 1m30s, 500ms\)"):
        parse_duration(value)


def test_nothing_to_roll_out_says_how_zdd_finds_services(write: Write, load: Load) -> None:
    write("p/compose.yaml", "services:\n  db: {image: postgres}\n  proxy: {build: .}\n")
    project = load(cwd="p")
    with pytest.raises(UsageError) as caught:
        build_plan(project, _cli(project), DeployOptions())
    assert str(caught.value) == (
        "nothing to roll out in project p: no service `extends` a base service and none builds "
        "an image; name the service(s) to deploy"
    )
    assert caught.value.exit_code == ExitCode.USAGE


SINGLE = """
services:
  proxy: {image: nginx}
  app:
    build: .
    expose: ["3000"]
    healthcheck: {test: ["CMD", "true"], interval: 1s, retries: 3, start_period: 10s}
  db: {image: postgres}
"""


@pytest.mark.parametrize(
    ("extra", "existing", "proxy", "expected"),
    [
        pytest.param(
            "",
            {"app": 1},
            ProxyMode.NGINX,
            [
                "build --no-cache -- app",
                "up -d --no-deps --no-build --no-recreate --scale app=2 -- app",
                "# wait until each new app container (1) is healthy (at most 28 s)",
                "# admit the new app containers: into rotation, confirm each",
                "# watch the new app containers up to 2 s (or 100 requests) on real traffic "
                "(failed share at most 5% over the others', median time at most 5x theirs), "
                "else roll back",
                "# drain the old app containers: out of rotation, wait for their in-flight "
                "requests",
                "# docker stop <the old app containers>, then docker rm them",
            ],
            id="one-running-nginx",
        ),
        pytest.param(
            "    deploy: {replicas: 3}\n",
            {"app": 2},
            ProxyMode.NONE,
            [
                "build --no-cache -- app",
                "up -d --no-deps --no-build --no-recreate --scale app=5 -- app",
                "# wait until each new app container (3) is healthy (at most 28 s)",
                "# docker stop <the old app containers>, then docker rm them",
            ],
            id="replicas-3-from-2",
        ),
        pytest.param(
            "    scale: 2\n",
            {"app": 0},
            ProxyMode.NGINX,
            [
                "build --no-cache -- app",
                "up -d --no-deps --no-build --no-recreate --scale app=2 -- app",
                "# wait until each new app container (2) is healthy (at most 28 s)",
                "# admit the new app containers: into rotation, confirm each",
            ],
            id="first-deploy",
        ),
        pytest.param(
            "",
            None,
            ProxyMode.NONE,
            [
                "build --no-cache -- app",
                "up -d --no-deps --no-build --no-recreate --scale app=2 -- app",
                "# wait until each new app container (1) is healthy (at most 28 s)",
                "# docker stop <the old app containers>, then docker rm them",
            ],
            id="no-engine-to-count",
        ),
    ],
)
def test_single_service_is_rolled_out_start_first(
    write: Write,
    load: Load,
    *,
    extra: str,
    existing: dict[str, int] | None,
    proxy: ProxyMode,
    expected: list[str],
) -> None:
    write("p/compose.yaml", SINGLE.replace("  db:", extra + "  db:"))
    project = load(cwd="p")
    cli = _cli(project)
    plan = build_plan(project, cli, DeployOptions(proxy=proxy), existing=existing)
    prefix = " ".join(cli.base()) + " "
    assert [s.describe().removeprefix(prefix) for s in plan.steps] == expected
    assert plan.singles == ("app",) and plan.units == ("app",) and plan.groups == ()


def test_named_services_mix_siblings_and_singles(write: Write, load: Load) -> None:
    write(
        "p/compose.yaml",
        SINGLE + "  base: {build: b}\n  s1: {extends: base}\n  s2: {extends: base}\n"
        "  worker: {image: w}\n",
    )
    project = load(cwd="p")
    options = DeployOptions(services=("s2", "worker", "app"))
    plan = build_plan(project, _cli(project), options, existing={"worker": 1, "app": 1})
    assert plan.siblings == ("s2",) and plan.singles == ("worker", "app")
    assert plan.built == ("base", "app"), "worker has an image only: pulled, not built"
    with pytest.raises(UsageError, match=r"service 'db' is stateful \(image postgres holds"):
        build_plan(project, _cli(project), DeployOptions(services=("db",)))
    assert build_plan(project, _cli(project), DeployOptions()).singles == (), "groups only"


def test_unknown_service_is_a_usage_error(seed: Project) -> None:
    with pytest.raises(UsageError, match=r"unknown service 'service_c'; services in legacy: "):
        build_plan(seed, _cli(seed), DeployOptions(services=("service_c",)))


def test_two_groups_build_once_then_roll_each(write: Write, load: Load) -> None:
    write(
        "p/compose.yaml",
        """
        services:
          api: {build: api}
          api-1: {extends: api}
          worker: {image: w}
          worker.1: {extends: worker}
        """,
    )
    project = load(cwd="p")
    assert _steps(build_plan(project, _cli(project), DeployOptions()), project) == [
        "build --no-cache -- api",
        "docker tag -- p_api p_api-1",
        "stop -- api-1",
        "up -d --no-deps --no-build --force-recreate -- api-1",
        NO_PORT_GATE,
        "stop -- worker.1",
        "up -d --no-deps --no-build --force-recreate -- worker.1",
        NO_PORT_GATE,
    ]


V2 = ComposeBinary(("docker", "compose"), "2.40.3")
SHARED = (
    "  app: {build: {context: ., args: {A: '1'}}}\n  s1: {extends: app}\n  s2: {extends: app}\n"
)


@pytest.mark.parametrize(
    ("services", "binary", "options", "expected"),
    [
        pytest.param(SHARED, V2, DeployOptions(), [
            "build --no-cache -- app", "docker tag -- p-app p-s1", "docker tag -- p-app p-s2",
        ], id="v2-names"),
        pytest.param(SHARED, V1, DeployOptions(no_cache=False), [
            "build -- app", "docker tag -- p_app p_s1", "docker tag -- p_app p_s2",
        ], id="v1-names-cache"),
        pytest.param(SHARED + "  s3: {extends: app, build: {args: {A: '2'}}}\n", V2,
            DeployOptions(), [
            "build --no-cache -- app s3", "docker tag -- p-app p-s1", "docker tag -- p-app p-s2",
        ], id="own-args-build-themselves"),
        pytest.param(SHARED + "  s3: {extends: app, build: other}\n", V2, DeployOptions(), [
            "build --no-cache -- app s3", "docker tag -- p-app p-s1", "docker tag -- p-app p-s2",
        ], id="own-context-builds-itself"),
        pytest.param(
            "  app: {build: ., image: reg/app:next}\n  s1: {extends: app}\n"
            "  s2: {extends: app, image: reg/s2}\n", V2, DeployOptions(), [
            "build --no-cache -- app", "docker tag -- reg/app:next reg/s2",
        ], id="image-names-shared-need-no-tag"),
        pytest.param(
            "  app: {build: .}\n  s1: {extends: app, build: a}\n  s2: {extends: app, build: a}\n",
            V2, DeployOptions(), [
            "build --no-cache -- s1", "docker tag -- p-s1 p-s2",
        ], id="base-nobody-shares-is-not-built"),
        pytest.param(
            "  app: {build: .}\n  s1: {extends: app}\n  web: {image: nginx}\n"
            "  w1: {extends: web}\n  w2: {extends: web}\n", V2, DeployOptions(pull=True), [
            "build --no-cache --pull -- app", "pull -- w1 w2", "docker tag -- p-app p-s1",
        ], id="pull-image-only-siblings"),
        pytest.param(
            "  app: {build: .}\n  s1: {extends: app}\n  web: {image: nginx}\n"
            "  w1: {extends: web}\n", V2, DeployOptions(build=False, pull=True), [
            "pull -- w1",
        ], id="no-build-still-pulls"),
        pytest.param(
            "  app: {build: .}\n  s1: {extends: app}\n  web: {extends: app}\n"
            "  w1: {extends: web}\n", V2, DeployOptions(), [
            "build --no-cache -- app", "docker tag -- p-app p-s1", "docker tag -- p-app p-w1",
        ], id="chains-share-the-root-build"),
    ],
)  # fmt: skip
def test_one_build_per_distinct_build(
    write: Write,
    load: Load,
    *,
    services: str,
    binary: ComposeBinary,
    options: DeployOptions,
    expected: list[str],
) -> None:
    write("p/compose.yaml", "services:\n" + services)
    project = load(cwd="p")
    cli = ComposeCli(binary=binary, files=project.files, project_name=project.name)
    base = " ".join(cli.base()) + " "
    images = [
        " ".join(s.argv).removeprefix(base)
        for s in build_plan(project, cli, options).steps
        if isinstance(s, Command) and s.verb in (Verb.BUILD, Verb.PULL, Verb.TAG)
    ]
    assert images == expected


def test_sibling_of_another_files_template_builds_itself(write: Write, load: Load) -> None:
    write("p/compose.yaml", "services:\n  web: {extends: {file: lib/base.yml, service: app}}\n")
    write("p/lib/base.yml", "services:\n  app: {build: .}\n")
    project = load(cwd="p")
    steps = _steps(build_plan(project, _cli(project), DeployOptions()), project)
    assert steps[0] == "build --no-cache -- web"


@pytest.mark.parametrize(
    ("healthcheck", "image_check", "policy", "budget", "words"),
    [
        ("healthcheck: {test: [CMD, 'true'], interval: 2s}", 40.0, GatePolicy.HEALTHCHECK, 26.0,
         "# wait until web is healthy (at most 26 s)"),
        ("", 40.0, GatePolicy.HEALTHCHECK, 40.0,
         "# wait until web is healthy (its image's HEALTHCHECK, at most 40 s)"),
        ("", 0.0, GatePolicy.DELAY, 5.0, "# wait 5 s, then check web runs"),
        ("", None, GatePolicy.DELAY, 5.0, "# wait 5 s, then check web runs (its image is not "
         "there yet: if it has a HEALTHCHECK, until healthy)"),
        ("healthcheck: {disable: true}", 40.0, GatePolicy.DELAY, 5.0,
         "# wait 5 s, then check web runs"),
    ],
)  # fmt: skip
def test_the_plan_names_the_gate_it_observed(
    write: Write,
    load: Load,
    *,
    healthcheck: str,
    image_check: float | None,
    policy: GatePolicy,
    budget: float,
    words: str,
) -> None:
    """Observed before planning, the image's own HEALTHCHECK is in the plan: --dry-run says
    the gate the deploy will wait on, not a hedge."""
    write(
        "p/compose.yaml",
        f"services:\n  app:\n    image: a\n    {healthcheck}\n  web: {{extends: app}}\n",
    )
    project = load(cwd="p")
    seen = {} if image_check is None else {"a": image_check}
    plan = build_plan(project, _cli(project), DeployOptions(), seen)
    (gate,) = [step for step in plan.steps if isinstance(step, Gate)]
    assert (gate.policy, gate.budget, gate.describe()) == (policy, budget, words)


def test_order_start_first_replaces_each_sibling_beside_its_old_one(seed: Project) -> None:
    options = DeployOptions(order=Order.START_FIRST, proxy=ProxyMode.NGINX)
    plan = build_plan(seed, _cli(seed), options, existing={"service_a": 1, "service_b": 1})
    assert plan.start_first == ("service_a", "service_b") and plan.singles == ()
    kinds = [s.kind for s in plan.steps]
    one = ["tag", "start", "gate", "admit", "watch", "drain", "retire"]
    assert kinds == ["build", *one, *one], "admitted and watched before the old is drained"
    scale = [s.describe() for s in plan.steps if s.kind == "start"]
    assert [argv.split(" -- ")[0].rsplit(" ", 1)[1] for argv in scale] == [
        "service_a=2",
        "service_b=2",
    ]
