"""Run `zdd deploy|rollback --engine swarm`: build once, push each image under its id, deploy
the rendered stack, then watch Swarm's own start-first update until every task runs the new
image, or Swarm has rolled it back (exit 1), or it stalls (zdd asks Swarm to roll back)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zdd.compose import ComposeCli
from zdd.errors import (
    ComposeCommandError,
    ComposeUnavailableError,
    DeployError,
    InterruptedDeployError,
    RollbackError,
    UsageError,
)
from zdd.events import Event, Reporter
from zdd.ports import CommandRunner
from zdd.project import Project, dump_yaml
from zdd.swarm.stack import MONITOR, Stack, budget, render, repository, units
from zdd.swarm.watch import Task, failures, judge, parse_services, parse_tasks

POLL = 1.0  # seconds between two looks at the services
PATIENCE = 15.0  # seconds a changed service may take before Swarm reports its update
PUSH_TIMEOUT = 900.0
Clock = Callable[[], float]


def check_manager(runner: CommandRunner) -> None:
    """The engine is an active Swarm manager, or exit 3 with the command that makes it one."""
    out = runner.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"],
        timeout=30,
    ).split()
    if out[:1] != ["active"]:
        raise ComposeUnavailableError(
            "--engine swarm: this engine is not in a swarm (`docker swarm init`, or --context "
            "of a manager)"
        )
    if out[1:] != ["true"]:
        raise ComposeUnavailableError(
            "--engine swarm: this engine is a worker; use --context of a manager node"
        )


@dataclass
class SwarmDeploy:
    """One deploy or rollback of a project's stack."""

    runner: CommandRunner
    cli: ComposeCli
    project: Project
    registry: str
    report: Reporter
    monitor: float = MONITOR
    health_timeout: float | None = None  # per task, instead of its healthcheck's budget
    clock: Clock = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    seen: dict[str, str] = field(default_factory=dict)  # task id -> last line said
    failed: dict[str, str] = field(default_factory=dict)  # service -> its last failed task
    rolling_back: bool = False  # `zdd rollback`: Swarm's rollback is the goal, not a failure

    @property
    def stack_name(self) -> str:
        """The stack is named after the project."""
        return self.project.name

    def images(self) -> dict[str, str]:
        """Each unit's local image: compose's build, else its `image:`."""
        found = {}
        for unit in units(self.project):
            config = self.project.services[unit.source].config
            if "build" in config:
                found[unit.name] = self.cli.image_name(unit.source, config)
            elif config.get("image"):
                found[unit.name] = str(config["image"])
        return found

    def builds(self) -> list[str]:
        """The compose services to build: one per unit that builds."""
        return [
            u.source
            for u in units(self.project)
            if "build" in self.project.services[u.source].config
        ]

    def plan(self, *, build: bool, no_cache: bool, pull: bool) -> list[tuple[str, ...]]:
        """The commands of a deploy, for --dry-run (image ids are known only once built)."""
        argv: list[tuple[str, ...]] = []
        if build and self.builds():
            argv.append(self.cli.build(self.builds(), no_cache=no_cache, pull=pull))
        for unit, image in self.images().items():
            target = f"{repository(self.registry, self.project.name, unit)}:<image-id>"
            argv += [("docker", "tag", "--", image, target), ("docker", "push", "--", target)]
        deploy = ("docker", "stack", "deploy", "--with-registry-auth", "--compose-file", "-")
        argv.append((*deploy, "--", self.stack_name))
        return argv

    def stack(self, refs: Mapping[str, str]) -> Stack:
        """The stack file for the given image references."""
        return render(self.project, refs, self.monitor)

    def publish(self, *, build: bool, no_cache: bool, pull: bool) -> dict[str, str]:
        """Build once, then tag each unit's image `REGISTRY/PROJECT/UNIT:ID` and push it:
        every node pulls exactly the bytes the manager has. An image this engine does not
        have is left to the nodes to pull as it is named."""
        if build and self.builds():
            self._step("build", f"build {', '.join(self.builds())}")
            self.runner.run(self.cli.build(self.builds(), no_cache=no_cache, pull=pull))
        refs = {}
        for unit, image in self.images().items():
            image_id = self._image_id(image)
            if image_id is None:
                refs[unit] = image
                continue
            target = f"{repository(self.registry, self.project.name, unit)}:{image_id[7:19]}"
            self.runner.run(["docker", "tag", "--", image, target], timeout=60)
            self._step("push", f"push {target}", service=unit)
            try:
                self.runner.run(["docker", "push", "--", target], timeout=PUSH_TIMEOUT)
            except ComposeCommandError as err:
                raise ComposeUnavailableError(
                    f"cannot push {target} to {self.registry}: {err.stderr.strip()[-200:]}"
                ) from None
            refs[unit] = target
        return refs

    def _image_id(self, image: str) -> str | None:
        try:
            out = self.runner.run(
                ["docker", "image", "inspect", "--format", "{{.Id}}", "--", image], timeout=30
            )
        except ComposeCommandError:
            return None
        return out.strip() or None

    def deploy(self, stack: Stack) -> None:
        """`docker stack deploy` the rendered file, then watch it to the end."""
        names = [f"{self.stack_name}_{s}" for s in stack.services()]
        before = self._states(names, missing_ok=True)
        document = dump_yaml(stack.document)
        self._step("deploy", f"docker stack deploy {self.stack_name} ({len(names)} services)")
        self.runner.run(
            [
                "docker",
                "stack",
                "deploy",
                "--with-registry-auth",
                "--compose-file",
                "-",
                "--",
                self.stack_name,
            ],
            stdin=document,
            timeout=120,
        )
        self.watch(names, before, budget(stack, self.health_timeout))

    def rollback(self) -> None:
        """Swarm's own rollback of each service to its previous spec, watched to the end."""
        names = [f"{self.stack_name}_{u.name}" for u in units(self.project)]
        states = self._states(names, missing_ok=True)
        if not states:
            raise UsageError(f"no service of stack {self.stack_name} runs on this swarm")
        # only what the last deploy gave a new image: a proxy rolled back to an older spec
        # would restart (stop-first, its port) for nothing
        back = [n for n, s in states.items() if s.previous_image and s.previous_image != s.image]
        if not back:
            raise UsageError(f"no service of stack {self.stack_name} has a previous image")
        before = {name: states[name] for name in back}
        for name in back:
            self._step("rollback", f"docker service rollback {name}", service=name)
            self.runner.run(["docker", "service", "rollback", "--detach", "--", name], timeout=60)
        self.rolling_back = True
        self.watch(back, before, 60.0 + 120.0 * len(back))

    def watch(self, names: Sequence[str], before: Mapping[str, Any], seconds: float) -> None:
        """Poll until every service converged; exit 1 if Swarm rolled one back, ask Swarm to
        roll back what is still updating after `seconds`."""
        deadline = self.clock() + seconds
        try:
            self._converge(names, before, seconds, deadline)
        except KeyboardInterrupt:
            raise InterruptedDeployError(
                "interrupted: Swarm carries on with the update by itself (and rolls it back on "
                "a failure); `zdd status --engine swarm` shows where it stands"
            ) from None

    def _converge(
        self, names: Sequence[str], before: Mapping[str, Any], seconds: float, deadline: float
    ) -> None:
        while True:
            verdicts = {}
            down = set(self._down_nodes())  # a task there may still read Running: not counted
            for name, state in self._states(names).items():
                tasks = [t for t in self._tasks(name, state.image) if t.node not in down]
                patient = self.clock() < deadline - seconds + PATIENCE
                verdicts[name] = judge(state, before.get(name), tasks, patient=patient)
                if verdicts[name].paused:
                    raise RollbackError(
                        f"Swarm paused {name}: {verdicts[name].why}; look at `docker service ps "
                        f"{name}` (tasks that still run serve)"
                    )
            if all(v.done for v in verdicts.values()):
                back = [n for n, v in verdicts.items() if v.rolled_back]
                if back and not self.rolling_back:
                    raise DeployError(
                        f"Swarm rolled {', '.join(back)} back ({self._why(back[0], verdicts)}); "
                        "the previous version serves"
                    )
                self.report(Event("summary", f"stack {self.stack_name}: {self._ended()}"))
                return
            if self._served_despite_down_nodes(verdicts):
                return
            if self.clock() > deadline:
                self._give_up(names, verdicts, seconds)
            self.sleep(POLL)

    def _served_despite_down_nodes(self, verdicts: Mapping[str, Any]) -> bool:
        """Swarm keeps an update open while an old task sits on a node that went down; once
        every task it wants runs the new image on the other nodes, that is the deploy done."""
        if not all(v.done or v.tasks_ready for v in verdicts.values()):
            return False
        down = self._down_nodes()
        if not down:
            return False
        open_ = [n for n, v in verdicts.items() if not v.done]
        self.report(
            Event(
                "warning",
                f"node {', '.join(down)} is down: every task runs the new image on the other "
                f"nodes; Swarm keeps the update of {', '.join(open_)} open until the node "
                "returns or is removed (docker node rm)",
                {"nodes_down": down},
            )
        )
        self.report(Event("summary", f"stack {self.stack_name}: {self._ended()}"))
        return True

    def _down_nodes(self) -> list[str]:
        out = self.runner.run(["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"])
        rows = (line.split() for line in out.splitlines())
        return [row[0] for row in rows if len(row) == 2 and row[1].lower() != "ready"]

    def _ended(self) -> str:
        if self.rolling_back:
            return "rolled back: every task runs its previous image again"
        return "every task runs its new spec"

    def _give_up(self, names: Sequence[str], verdicts: Mapping[str, Any], seconds: float) -> None:
        """Past the budget: ask Swarm to roll back what is still updating (never a rollback:
        that would put the release back that it is taking away)."""
        stuck = [n for n in names if not verdicts[n].done]
        why = self._why(stuck[0], verdicts)
        down = self._down_nodes()
        why += f"; node {', '.join(down)} down" if down else ""
        what = f"{', '.join(stuck)} did not converge in {seconds:.0f} s ({why})"
        if self.rolling_back:
            raise RollbackError(f"{what}; look at `docker service ps {stuck[0]}`")
        asked, refused = [], []
        for name in stuck:
            try:
                self.runner.run(
                    ["docker", "service", "rollback", "--detach", "--", name], timeout=60
                )
                asked.append(name)
            except ComposeCommandError:  # no previous spec (a first deploy), or rolling back
                refused.append(name)
        if refused:
            raise RollbackError(
                f"{what}; Swarm cannot roll back {', '.join(refused)} (no previous spec, or it "
                "is rolling back already): look at `docker service ps`"
            )
        raise DeployError(f"{what}; zdd asked Swarm to roll back {', '.join(asked)}")

    def _why(self, name: str, verdicts: Mapping[str, Any]) -> str:
        """Swarm's message, and the last failed task with its node."""
        last = self.failed.get(name)
        return f"{verdicts[name].why}; last failed task {last}" if last else verdicts[name].why

    def _states(self, names: Sequence[str], *, missing_ok: bool = False) -> dict[str, Any]:
        """`docker service inspect`; with `missing_ok`, one by one, skipping the services
        that do not exist yet (a first deploy)."""
        if not missing_ok:
            return parse_services(self._inspect(names))
        found = {}
        for name in names:
            try:
                found.update(parse_services(self._inspect([name])))
            except ComposeCommandError:
                continue
        return found

    def _inspect(self, names: Sequence[str]) -> str:
        return self.runner.run(["docker", "service", "inspect", "--", *names], timeout=30)

    def _tasks(self, name: str, image: str = "") -> list[Task]:
        """The service's tasks (history included), each change said once; the last failure
        of a task running `image` (this deploy's, not an older release's) is kept."""
        out = self.runner.run(
            ["docker", "service", "ps", "--no-trunc", "--format", "{{json .}}", "--", name],
            timeout=30,
        )
        tasks = parse_tasks(out)
        for task in [t for t in failures(tasks) if t.image == image][:1]:
            self.failed[name] = task.line()
        for task in tasks[:12]:
            line = task.line()
            if self.seen.get(task.id) != line:
                self.seen[task.id] = line
                self.report(Event("task", line, {"service": name, "node": task.node}))
        return tasks

    def tasks(self) -> list[Task]:
        """The tasks Swarm wants running, of every service of the stack that exists."""
        names = [f"{self.stack_name}_{u.name}" for u in units(self.project)]
        found = []
        for name in self._states(names, missing_ok=True):
            found += [t for t in self._tasks(name) if t.desired.lower() == "running"]
        return found

    def _step(self, kind: str, message: str, **data: Any) -> None:
        self.report(Event("step", message, {"action": kind, **data}))
