"""--engine swarm, the pure parts: the stack file rendered from what compose resolved (v2 and
v1), what Swarm cannot take refused in one line, and the update's state read from docker's
own output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from zdd.errors import UsageError
from zdd.events import Event
from zdd.swarm.rollout import SwarmDeploy
from zdd.swarm.stack import Stack, budget, check_registry, render, repository
from zdd.swarm.watch import ServiceState, judge, parse_services, parse_tasks

from .conftest import Load, Write
from .fakes import FakeEngine

DEMO = """\
x-zdd: {proxy: nginx}
services:
  proxy:
    image: nginx
    ports: ["${BIND:-127.0.0.1}:8000:80"]
    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro", "data:/data"]
    restart: unless-stopped
    depends_on: [a]
  app:
    build: .
    environment: [KEEP=1, UNSET]
    healthcheck: {test: [CMD, "true"], interval: 1s, retries: 3, start_period: 30s}
    networks: {default: {aliases: [pool]}}
  a: {extends: app}
  b: {extends: app}
  c: {extends: app}
volumes: {data: {}}
"""


@dataclass(frozen=True)
class Demo:
    """The demo's stack file rendered, and the directory of its compose file."""

    stack: Stack
    directory: Path


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def demo(request: pytest.FixtureRequest, write: Write, load: Load) -> Demo:
    path = write("p/docker-compose.yml", DEMO)
    (path.parent / "nginx.conf").write_text("events {}\n")
    project = load(str(path), environ={"BIND": "0.0.0.0"}, compose=request.param)
    stack = render(project, {"app": "reg:5000/p/app:1234", "proxy": "reg:5000/p/proxy:abcd"})
    return Demo(stack, path.parent)


def test_a_group_becomes_one_service_with_its_siblings_as_replicas(demo: Demo) -> None:
    document = demo.stack.document
    assert list(document["services"]) == ["app", "proxy"]
    app = document["services"]["app"]
    assert app["image"] == "reg:5000/p/app:1234"
    assert app["deploy"]["replicas"] == 3
    assert app["deploy"]["endpoint_mode"] == "dnsrr"
    assert app["deploy"]["update_config"]["order"] == "start-first"
    assert app["deploy"]["update_config"]["failure_action"] == "rollback"
    assert app["deploy"]["update_config"]["parallelism"] == 1
    assert app["environment"] == {"KEEP": "1"}
    assert app["networks"] == {"default": {"aliases": ["pool"]}}
    assert app["healthcheck"]["start_period"] == "30000ms"
    assert "build" not in app


def test_the_wait_budget_is_each_task_health_budget_and_monitor_or_health_timeout(
    demo: Demo,
) -> None:
    """60 s margin; app: 3 tasks x (30 s start + 1 s x 3 retries (+ margin) + 5 s monitor);
    proxy: 1 task x (30 s without a healthcheck + 5 s). --health-timeout 20 caps each task."""
    assert budget(demo.stack) > 60 + 3 * (33 + 5) + (30 + 5)
    assert budget(demo.stack, 20.0) == 60 + 3 * (20 + 5) + (20 + 5)


def test_the_proxy_keeps_its_files_and_ports_in_a_form_swarm_takes(demo: Demo) -> None:
    stack = demo.stack
    proxy = stack.document["services"]["proxy"]
    assert proxy["ports"] == [{"target": 80, "published": 8000, "protocol": "tcp", "mode": "host"}]
    (config,) = proxy["configs"]
    assert config["target"] == "/etc/nginx/nginx.conf"
    top = stack.document["configs"][config["source"]]
    assert top == {"file": str(demo.directory / "nginx.conf")}
    assert proxy["volumes"] == [
        {"type": "volume", "source": "data", "target": "/data", "read_only": False}
    ]
    assert proxy["deploy"]["update_config"]["order"] == "stop-first"  # a host port: one task
    assert proxy["deploy"]["restart_policy"] == {"condition": "any"}
    assert "depends_on" not in proxy
    assert any("depends_on is ignored" in w for w in stack.warnings)
    assert stack.document["networks"] == {"default": {"driver": "overlay"}}


REFUSED = {
    "loopback-port": ("  web: {image: i, ports: ['127.0.0.1:80:80']}\n", "not on 127.0.0.1 only"),
    "privileged": ("  web: {image: i, privileged: true}\n", "`privileged`"),
    "network-mode": ("  web: {image: i, network_mode: host}\n", "`network_mode`"),
    "siblings-differ": (
        "  app: {image: i}\n  a: {extends: app, environment: [X=1]}\n  b: {extends: app}\n",
        "siblings a and b differ in 'environment'",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_swarm_cannot_take_is_refused_in_one_line(case: str, write: Write, load: Load) -> None:
    services, words = REFUSED[case]
    path = write("q/compose.yaml", "services:\n" + services)
    with pytest.raises(UsageError, match=None) as caught:
        render(load(str(path)), {})
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_registry_and_repository_names_are_checked() -> None:
    assert (
        repository("127.0.0.1:5000", "My_Proj", "Service_A") == "127.0.0.1:5000/my_proj/service_a"
    )
    for bad in ("", "-x", "a b", "h:99999999", "x/../y", "h:5000 --insecure"):
        with pytest.raises(UsageError):
            check_registry(bad)
    with pytest.raises(UsageError):
        repository("r", "p", "___")


def _service(
    state: str, started: str, image: str = "img@sha256:1", mode: object = None, env: str = ""
) -> str:
    template = {"ContainerSpec": {"Image": image, "Env": [env]}}
    return json.dumps(
        [
            {
                "Spec": {
                    "Name": "p_app",
                    "Mode": mode or {"Replicated": {"Replicas": 2}},
                    "TaskTemplate": template,
                },
                "UpdateStatus": {"State": state, "StartedAt": started, "Message": "m"},
            }
        ]
    )


def before(started: str = "t1", env: str = "") -> ServiceState:
    """The service as it was before the deploy."""
    (state,) = parse_services(_service("completed", started, env=env)).values()
    return state


def _tasks(*rows: tuple[str, str, str]) -> str:
    return "\n".join(
        json.dumps({"ID": f"t{i}", "Name": f"p_app.{i}", "Image": image, "Node": "n",
                    "DesiredState": desired, "CurrentState": current, "Error": ""})
        for i, (image, desired, current) in enumerate(rows)
    )  # fmt: skip


def test_an_update_is_done_once_every_replica_runs_the_new_image() -> None:
    (state,) = parse_services(_service("updating", "t2")).values()
    new = ("img@sha256:1", "Running", "Running 2 seconds ago")
    old_and_new = parse_tasks(_tasks(("old", "Running", "Running 1 minute ago"), new))
    assert not judge(state, before(), old_and_new).done
    (state,) = parse_services(_service("completed", "t2")).values()
    assert not judge(state, before(), old_and_new).done  # one old task left
    both = parse_tasks(_tasks(("img@sha256:1", "Running", "Running 9 seconds ago"),
                              ("img@sha256:1", "Running", "Running 2 seconds ago"),
                              ("old", "Shutdown", "Shutdown 1 second ago")))  # fmt: skip
    assert judge(state, before(), both).done
    assert not judge(state, before(), both).rolled_back


def test_an_old_task_still_wanted_is_not_done_whatever_the_count() -> None:
    """Start-first, an update held open by a node that went down: the replicas' count of new
    tasks runs, and an old one still serves beside them (seen in CI: zdd said every task ran
    the new image and exited 0 while the old release still answered)."""
    (state,) = parse_services(_service("updating", "t2")).values()
    new = ("img@sha256:1", "Running", "Running 9 seconds ago")
    tasks = parse_tasks(_tasks(new, new, ("old", "Running", "Running 1 minute ago")))
    verdict = judge(state, before(), tasks)
    assert not verdict.done and not verdict.tasks_ready


def test_a_rollback_by_swarm_is_told_apart_from_an_older_one() -> None:
    tasks = parse_tasks(_tasks(("img@sha256:1", "Running", "Running 1 second ago"),
                               ("img@sha256:1", "Running", "Running 1 second ago")))  # fmt: skip
    (state,) = parse_services(_service("rollback_completed", "t2")).values()
    assert judge(state, before(), tasks).rolled_back
    assert not judge(state, before("t2"), tasks).rolled_back  # the last deploy's, not this one's
    (state,) = parse_services(_service("rollback_paused", "t2")).values()
    assert judge(state, before(), tasks).paused


def test_dry_run_prints_the_stack_and_the_push_and_deploy_commands(
    write: Write, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from zdd.cli import app

    path = write("p/docker-compose.yml", DEMO)
    (path.parent / "nginx.conf").write_text("events {}\n")
    result = CliRunner().invoke(
        app,
        ["deploy", "-f", str(path), "--engine", "swarm", "--registry", "reg:5000", "--dry-run"],
        env={"BIND": "0.0.0.0", "XDG_CACHE_HOME": str(tmp_path / "c")},
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("build --no-cache -- a")
    assert "docker push -- reg:5000/p/app:<image-id>" in lines
    assert "docker stack deploy --with-registry-auth --compose-file - -- p" in lines
    assert "  app:" in lines


def swarm_manager(services: dict[str, tuple[str, str, str]]) -> FakeEngine:
    """The fake engine as a swarm manager: `service inspect` and `service ps` answer from
    `services` (name -> (image, previous image, update state)); other `service` commands
    (rollback) print nothing."""

    def inspect(argv: tuple[str, ...]) -> str:
        found = []
        for name in (n for n in argv[4:] if n in services):
            image, previous, state = services[name]
            spec = {"Name": name, "Mode": {"Replicated": {"Replicas": 2}},
                    "TaskTemplate": {"ContainerSpec": {"Image": image}}}  # fmt: skip
            found.append({
                "Spec": spec,
                "PreviousSpec": {**spec, "TaskTemplate": {"ContainerSpec": {"Image": previous}}},
                "UpdateStatus": {"State": state, "StartedAt": "later", "Message": state},
            })  # fmt: skip
        return json.dumps(found)

    def tasks(argv: tuple[str, ...]) -> str:
        return _tasks(*[(services[argv[-1]][0], "Running", "Running 5 seconds ago")] * 2)

    return FakeEngine(
        "s",
        answers={
            ("docker", "service"): "",
            ("docker", "service", "inspect"): inspect,
            ("docker", "service", "ps"): tasks,
        },
    )


def _swarm_deploy(write: Write, load: Load, engine: FakeEngine) -> SwarmDeploy:
    path = write("s/docker-compose.yml", "services:\n  proxy: {image: n}\n" + REFUSED_FREE)
    project = load(str(path))
    assert project.cli is not None
    events: list[Event] = []
    clock = iter(range(0, 100_000, 50))
    return SwarmDeploy(engine, project.cli, project, "reg", events.append,
                       clock=lambda: float(next(clock)), sleep=lambda _s: None)  # fmt: skip


REFUSED_FREE = "  app: {image: i}\n  a: {extends: app}\n  b: {extends: app}\n"


def test_rollback_returns_only_the_services_the_last_deploy_gave_a_new_image(
    write: Write, load: Load
) -> None:
    engine = swarm_manager({"s_app": ("new", "old", "rollback_completed"),
                            "s_proxy": ("nginx", "nginx", "completed")})  # fmt: skip
    swarm = _swarm_deploy(write, load, engine)
    swarm.rollback()  # Swarm's rollback is the goal: no error
    rolled = [a[-1] for a in engine.argv if a[:3] == ("docker", "service", "rollback")]
    assert rolled == ["s_app"], "the proxy is not restarted for nothing"


def test_an_update_that_never_converges_is_handed_back_to_swarm(write: Write, load: Load) -> None:
    from zdd.errors import DeployError

    engine = swarm_manager({"s_app": ("new", "old", "updating")})
    swarm = _swarm_deploy(write, load, engine)
    with pytest.raises(DeployError, match=r"did not converge in 30 s.*asked Swarm to roll back"):
        swarm.watch(["s_app"], {"s_app": before("earlier")}, 30.0)
    assert engine.argv[-1] == ("docker", "service", "rollback", "--detach", "--", "s_app")


def test_check_with_the_swarm_engine_says_what_the_stack_cannot_carry(
    write: Write, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from zdd.cli import app

    path = write("p/docker-compose.yml", DEMO)
    (path.parent / "nginx.conf").write_text("events {}\n")
    argv = ["check", "-f", str(path), "--engine", "swarm"]
    env = {"XDG_CACHE_HOME": str(tmp_path / "c")}
    refused = CliRunner().invoke(app, argv, env=env)
    assert refused.exit_code == 2
    assert "Swarm publishes a port on every interface" in refused.stderr
    passed = CliRunner().invoke(app, argv, env={**env, "BIND": "0.0.0.0"})
    assert passed.exit_code == 0, passed.output
    assert "depends_on is ignored" in passed.stderr


def test_a_global_service_waits_for_every_node_it_placed() -> None:
    (state,) = parse_services(_service("", "", mode={"Global": {}})).values()
    new = "img@sha256:1"
    one_of_three = parse_tasks(_tasks((new, "Running", "Running 1 second ago"),
                                      (new, "Running", "Preparing 1 second ago"),
                                      (new, "Running", "Assigned 1 second ago")))  # fmt: skip
    assert not judge(state, None, one_of_three).done  # a first deploy: no state before
    three = parse_tasks(_tasks(*[("img@sha256:1", "Running", "Running 1 second ago")] * 3))
    assert judge(state, None, three).done


def test_a_changed_template_waits_for_swarm_to_report_its_update() -> None:
    """Only the environment changed (same image): the old tasks run the spec's image, but
    they are not the new spec until Swarm's update of them has ended."""
    tasks = parse_tasks(_tasks(*[("img@sha256:1", "Running", "Running 1 minute ago")] * 2))
    (state,) = parse_services(_service("completed", "t1", env="X=2")).values()  # not yet begun
    assert not judge(state, before(env="X=1"), tasks).done
    assert judge(state, before(env="X=1"), tasks, patient=False).done  # Swarm never reported
    assert judge(state, before(env="X=2"), tasks).done  # unchanged: nothing to wait for
    (state,) = parse_services(_service("completed", "t2", env="X=2")).values()
    assert judge(state, before(env="X=1"), tasks).done


ODD = """\
services:
  web:
    image: i
    volumes: ["/anonymous", "named:/data", "db:/db"]
    extra_hosts: ["db.local:10.0.0.5"]
    networks: [back]
    deploy: {resources: {limits: {cpus: "0.5", memory: 64M}}}
networks: {back: {internal: true}}
volumes: {named: {}, db: {name: pgdata}}
"""


@pytest.mark.parametrize("compose", [2, 1])
def test_odd_but_valid_compose_renders_as_swarm_reads_it(
    write: Write, load: Load, compose: int
) -> None:
    stack = render(load(str(write("o/compose.yaml", ODD)), compose=compose), {})
    web = stack.document["services"]["web"]
    assert {"type": "volume", "target": "/anonymous", "read_only": False} in web["volumes"]
    assert stack.document["volumes"] == {"db": {"name": "pgdata"}, "named": {}}
    assert web["extra_hosts"] == ["db.local:10.0.0.5"]
    assert web["deploy"]["resources"] == {
        "limits": {"cpus": "0.5", "memory": str(64 * 2**20) if compose == 2 else "64M"}
    }
    assert web["deploy"]["restart_policy"] == {"condition": "any"}, "Swarm's default, not none"
    assert stack.document["networks"]["back"] == {"driver": "overlay", "internal": True}


@pytest.mark.parametrize("compose", [2, 1])
def test_the_file_s_update_and_rollback_policies_pass_through_to_swarm(
    write: Write, load: Load, compose: int
) -> None:
    update = "{parallelism: 2, delay: 5s, failure_action: pause, max_failure_ratio: 0.25}"
    path = write(
        "p/docker-compose.yml",
        "services:\n  web:\n    image: web\n    deploy:\n      replicas: 4\n"
        f"      update_config: {update}\n      rollback_config: {{parallelism: 4}}\n",
    )
    stack = render(load(str(path), compose=compose), {"web": "reg:5000/p/web:1"})
    deploy = stack.document["services"]["web"]["deploy"]
    assert {k: deploy["update_config"][k] for k in ("parallelism", "failure_action")} == {
        "parallelism": 2,
        "failure_action": "pause",
    }
    assert deploy["update_config"]["max_failure_ratio"] == 0.25
    assert str(deploy["update_config"]["delay"]) in ("5s", "5000000000")
    assert deploy["rollback_config"]["parallelism"] == 4
    assert deploy["rollback_config"]["failure_action"] == "pause"  # zdd's, none given
