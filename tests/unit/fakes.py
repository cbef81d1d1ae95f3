"""The pure tier's one fake engine (it plays docker and compose for one project, records every
argv and fails, crashes or goes away where a test says; a zdd.ports.CommandRunner) and a fake
clock. fake_proxy.py holds the fake proxies that go with it."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

from zdd.containers import PROJECT_LABEL, SERVICE_LABEL, Container, parse_inspect
from zdd.errors import ComposeCommandError
from zdd.runner import RunOptions

OLD, NEW = "sha256:old", "sha256:new"  # the image ids before and after the build
# docker commands that only read (exec: a healthcheck or probe): left out of writes()
READS = ("ps", "inspect", "image", "images", "logs", "version", "exec")
RECORDS = "zdd-history/"  # the records of runs (zdd/history.py): left out of writes() too
NETWORKS_FORMAT = "{{json .NetworkSettings.Networks}}"
CHECK = {"Test": ["CMD", "true"], "Interval": 10**9}  # FakeEngine.image_check's HEALTHCHECK
COMPOSE_FLAGS = ("-f", "-p", "--project-directory", "--env-file")  # ComposeCli.base(): flag, value

Answer = str | Callable[[tuple[str, ...]], str]


class FakeClock:
    """A clock that moves only when the code under test sleeps (health.Clock, health.Sleep)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Sleep without sleeping: the clock moves on."""
        self.now += seconds


@dataclass
class Finished:
    """A command the fake ran at once, as zdd.ports.Started: its output, or its error."""

    output: str = ""
    error: ComposeCommandError | None = None

    def result(self) -> str:
        """The output, or the command's error."""
        if self.error is not None:
            raise self.error
        return self.output


@dataclass
class FakeShell:
    """A long-lived shell the fake opened (zdd.ports.ScriptShell): each script is kept in
    `engine.scripts` and answered by `engine.script_answer`."""

    engine: FakeEngine
    argv: tuple[str, ...]

    def run(self, script: str, timeout: float) -> str:
        """The engine's answer to the script."""
        self.engine.scripts.append((self.argv, script))
        return self.engine.script_answer(self.argv, script)

    def open(self) -> None:
        """Nothing to start."""

    def close(self, wait: float = 2) -> None:
        """Nothing to end."""


@dataclass
class FakeEngine:
    """Plays docker and compose (v2, or v1's `docker-compose`) for one project.

    Containers are `docker inspect` entries keyed by id (`<service>-<n>`, n counting every
    container created); a service's image is the tag `<project>-<service>`. `compose build`
    points each built service's tag at `new_image`; `up` creates containers from the tags.
    `crash`: image ids, or `NAME@IMAGE` pairs (`legacy-web-3@sha256:new`), whose containers
    restart at once. `fail`: argv word -> from which of the commands holding it on they fail.
    `answers`: argv prefix -> output, for commands the fake does not play. `on_argv` is called
    with each command before it runs (a test's hook: take the engine down, send a signal).
    """

    project: str
    tags: dict[str, str] = field(default_factory=dict)  # image name or release tag -> image id
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # zdd-history tag -> image
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    new_image: str = NEW
    crash: set[str] = field(default_factory=set)
    fail: dict[str, int] = field(default_factory=dict)
    answers: dict[tuple[str, ...], Answer] = field(default_factory=dict)
    on_argv: Callable[[tuple[str, ...]], None] = lambda argv: None
    engine_down: bool = False  # every command fails as with no daemon
    image_check: bool = False  # the images carry a HEALTHCHECK (healthy at once)
    script_answer: Callable[[tuple[str, ...], str], str] = lambda argv, script: ""
    argv: list[tuple[str, ...]] = field(default_factory=list)
    scripts: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    seconds: float = 0.0
    calls: int = 0
    created: int = 0  # containers created so far (the next id's number)
    _seen: dict[str, int] = field(default_factory=dict)  # fail word -> commands holding it

    def run(self, argv: Sequence[str], **options: Unpack[RunOptions]) -> str:
        """Run `argv` at once: its output, or ComposeCommandError."""
        return self.start(argv).result()

    def start(self, argv: Sequence[str], **options: Unpack[RunOptions]) -> Finished:
        """Record `argv`, call `on_argv`, then fail it or play it."""
        command = tuple(argv)
        self.argv.append(command)
        self.calls += 1
        self.on_argv(command)
        for word, first in self.fail.items():
            if word in command:
                self._seen[word] = self._seen.get(word, 0) + 1
                if self._seen[word] >= first:
                    return Finished(error=ComposeCommandError(command, 1, f"{word} failed"))
        if self.engine_down:
            daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
            return Finished(error=ComposeCommandError(command, 1, daemon))
        return Finished(self._answer(command))

    def shell(self, argv: Sequence[str]) -> FakeShell:
        """A shell whose scripts `script_answer` answers."""
        return FakeShell(self, tuple(argv))

    def image_name(self, service: str) -> str:
        """The tag compose v2 builds and runs `service` from."""
        return f"{self.project}-{service}"

    def create(self, service: str, *, number: int = 1, start: bool = True) -> str:
        """A container of `service` from its image's tag, as `up` makes it; its id."""
        container_id = f"{service}-{self.created}"
        self.containers[container_id] = {
            "Id": container_id,
            "Name": f"/{self.project}-{service}-{number}",
            "Config": {
                "Labels": {PROJECT_LABEL: self.project, SERVICE_LABEL: service},
                "Image": self.image_name(service),
                "Healthcheck": CHECK if self.image_check else None,
            },
            "Image": self.tags.get(self.image_name(service), self.image_name(service)),
            "State": {"Status": "created", "ExitCode": 0},
            "RestartCount": 0,
            "NetworkSettings": {
                "Networks": {
                    f"{self.project}_default": {"IPAddress": f"10.9.0.{10 + self.created}"}
                }
            },
        }
        self.created += 1
        if start:
            self._run_container(self.containers[container_id])
        return container_id

    def of(self, service: str) -> list[dict[str, Any]]:
        """The service's containers, oldest first."""
        return [
            c for c in self.containers.values() if c["Config"]["Labels"][SERVICE_LABEL] == service
        ]

    def container(self, container_id: str) -> Container:
        """The container as zdd reads it from `docker inspect`."""
        return parse_inspect(self.containers[container_id])

    def running(self) -> dict[str, dict[str, str]]:
        """Service -> its running containers' ids -> their image ids: who serves now."""
        found: dict[str, dict[str, str]] = {}
        for container in self.containers.values():
            if container["State"]["Status"] == "running":
                service = container["Config"]["Labels"][SERVICE_LABEL]
                found.setdefault(service, {})[container["Id"]] = container["Image"]
        return found

    def writes(self) -> list[str]:
        """Every command but the reads, in order, as shell lines: compose's base argv (binary,
        -f, -p) as `compose`, a release tag's time as `rN`."""
        lines = []
        for command in self.argv:
            words = _compose_words(command)
            if words is not None:
                lines.append(shlex.join(("compose", *words)))
            elif command[1] not in READS and not any(w.startswith(RECORDS) for w in command):
                lines.append(shlex.join(command))  # (keeping a run's record changes no stack)
        return [re.sub(r"(zdd-release/\S+):r\d+", r"\1:rN", line) for line in lines]

    def _answer(self, argv: tuple[str, ...]) -> str:
        for prefix in sorted(self.answers, key=len, reverse=True):
            if argv[: len(prefix)] == prefix:
                answer = self.answers[prefix]
                return answer if isinstance(answer, str) else answer(argv)
        words = _compose_words(argv)
        if words is not None:
            self._compose(words)
            return ""
        args = argv[1:]
        reads: dict[str, Callable[[tuple[str, ...]], str]] = {
            "ps": self._ps,
            "inspect": self._inspect,
            "image": self._image,
            "import": self._import,
            "images": self._images,
            "logs": self._logs,
            "version": lambda args: "27.3.1",
            "exec": lambda args: "",  # a readiness request inside a container: it answers
        }
        if args[0] in reads:
            return reads[args[0]](args)
        after = args[args.index("--") + 1 :] if "--" in args else ()
        if args[0] in ("tag", "rmi"):  # `docker tag -- SOURCE TARGET`: images, not containers
            self._change(args[0], after or args[1:], ())
        else:
            self._change(args[0], args[1:], after)
        return ""

    def _compose(self, words: tuple[str, ...]) -> None:
        verb, services = words[0], words[words.index("--") + 1 :] if "--" in words else ()
        if verb == "build":
            for service in services:
                self.tags[self.image_name(service)] = self.new_image
        elif verb == "stop":
            for service in services:
                for container in self.of(service):
                    container["State"]["Status"] = "exited"
        elif verb == "up":
            self._up(words, services[0])

    def _up(self, words: tuple[str, ...], service: str) -> None:
        start = "--no-start" not in words
        existing = self.of(service)
        if "--scale" in words:  # start-first: new containers beside, numbered on
            wanted = int(words[words.index("--scale") + 1].split("=")[1])
            last = max((int(c["Name"].rsplit("-", 1)[1]) for c in existing), default=0)
            for number in range(last + 1, last + 1 + wanted - len(existing)):
                self.create(service, number=number, start=start)
        elif "--force-recreate" in words or not existing:
            for container in existing:
                del self.containers[container["Id"]]
            self.create(service, start=start)
        else:
            self._change("start", (), tuple(c["Id"] for c in existing))

    def _change(self, verb: str, args: tuple[str, ...], ids: tuple[str, ...]) -> None:
        """docker tag, rmi, stop, rm, start (network connect and the like: recorded only)."""
        if verb == "tag":
            self.tags[args[1]] = self.tags.get(args[0], args[0])
        elif verb == "rmi":
            for tag in args:
                self.tags.pop(tag, None)
                self.records.pop(tag, None)
        for container_id in ids:
            container = self.containers[container_id]
            if verb == "stop":
                container["State"]["Status"] = "exited"
            elif verb == "rm":
                del self.containers[container_id]
            elif verb == "start":
                self._run_container(container)

    def _run_container(self, container: dict[str, Any]) -> None:
        name, image = container["Name"].lstrip("/"), container["Image"]
        crashes = image in self.crash or f"{name}@{image}" in self.crash
        container["State"]["Status"] = "restarting" if crashes else "running"
        container["State"]["ExitCode"] = 1 if crashes else 0
        container["RestartCount"] = 1 if crashes else 0
        if container["Config"]["Healthcheck"]:
            container["State"]["Health"] = {"Status": "healthy"}

    def _ps(self, args: tuple[str, ...]) -> str:
        labels = {a.split("=", 1)[1] for a in args if a.startswith("label=")}
        return "\n".join(
            c["Id"]
            for c in self.containers.values()
            if labels <= {f"{k}={v}" for k, v in c["Config"]["Labels"].items()}
            and ("-aq" in args or c["State"]["Status"] == "running")
        )

    def _inspect(self, args: tuple[str, ...]) -> str:
        if args[1:3] == ("--format", NETWORKS_FORMAT):
            return json.dumps(self.containers[args[3]]["NetworkSettings"]["Networks"])
        return json.dumps([self.containers[i] for i in args[1:] if i in self.containers])

    def _image(self, args: tuple[str, ...]) -> str:
        """`image ls -- REPO` and `image inspect -- TAG...` of zdd's records; else an image's
        HEALTHCHECK."""
        after = args[args.index("--") + 1 :] if "--" in args else ()
        if args[1] == "ls":
            return "\n".join(t.split(":")[1] for t in self.records if t.split(":")[0] in after)
        if args[1] == "inspect" and after and after[0].startswith("zdd-history/"):
            missing = [tag for tag in after if tag not in self.records]
            if missing:
                raise ComposeCommandError(args, 1, f"Error: No such image: {missing[0]}")
            return json.dumps([self.records[tag] for tag in after])
        return json.dumps(CHECK if self.image_check else None)

    def _import(self, args: tuple[str, ...]) -> str:
        """`docker import -m COMMENT --change "LABEL k=v ..." - TAG`: a record kept."""
        change = args[args.index("--change") + 1].removeprefix("LABEL ")
        labels = dict(word.split("=", 1) for word in shlex.split(change))
        self.records[args[-1]] = {"Comment": args[args.index("-m") + 1], "RepoTags": [args[-1]],
                                  "Config": {"Labels": labels}}  # fmt: skip
        return "sha256:record"

    def _images(self, args: tuple[str, ...]) -> str:
        """The release tags, as Ledger lists them: `REPOSITORY TAG ID` lines."""
        repo = f"zdd-release/{self.project}/"
        return "\n".join(
            f"{name.replace(':', ' ')} {image}"
            for name, image in self.tags.items()
            if name.startswith(repo)
        )

    def _logs(self, args: tuple[str, ...]) -> str:
        crashed = self.containers.get(args[-1], {}).get("RestartCount")
        return "Error: cannot connect to the database\n" if crashed else ""


def _compose_words(argv: tuple[str, ...]) -> tuple[str, ...] | None:
    """A compose command's words after its base (binary, -f, -p, ...); None for docker's."""
    if argv[:2] == ("docker", "compose"):
        rest = list(argv[2:])
    elif argv[:1] == ("docker-compose",):
        rest = list(argv[1:])
    else:
        return None
    while rest and rest[0] in COMPOSE_FLAGS:
        del rest[:2]
    return tuple(rest)
