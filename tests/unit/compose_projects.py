"""Compose projects as users write them, generated (hypothesis), each with what it means.

A `Case` is a directory tree (files and symlinks), where the user stands, the flags and
environment they give compose, and, for every service, the meaning the generator put into the
text: the service it extends, the host ports it publishes, whether its healthcheck is off and
the gate that healthcheck implies, its replicas. The text is written the ways compose reads:
bare YAML 1.1 words and `x-` names as service names, every port syntax (ranges, IPv6, UDP, the
long form, `${VAR:-default}`), compose's durations (`1m30s`, `100us`, `100µs`), `NONE` and
`disable`, `extends` in the same file and from another file, a release layout reached
through a symlinked directory or file, several YAML documents, a tab before a comment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from zdd.health import healthcheck_budget

Port = tuple[str, str, int]  # (address, "" for every address; protocol; host port)
ANY = ("", "0.0.0.0", "::")
HOST_PORTS = (8000, 8001, 8080, 9000)
DURATIONS = (
    ("30s", 30.0), ("1m30s", 90.0), ("100ms", 0.1), ("100us", 1e-4), ("100µs", 1e-4),
    ("1h", 3600.0), ("1.5s", 1.5), ("2m", 120.0), ("10s", 10.0), ("1m0.5s", 60.5),
)  # fmt: skip
YAML11_WORDS = ("on", "off", "yes", "no", "y", "n", "true", "false", "null", "Yes", "ON")
ODD_NAMES = ("x-app", "x-zdd-web", "a.b", "a-b", "_u", "9to5", "café", "web_1")
DIRECTORY_NAMES = ("proj", "My.App", "app-1", "_app", "Ünï")


@dataclass(frozen=True)
class Meaning:
    """What the generator wrote into one service."""

    parent: str | None = None  # the project service it extends
    template: str | None = None  # `file#service` of another file it extends
    ports: frozenset[Port] = frozenset()
    disabled: bool = False  # the image's HEALTHCHECK switched off
    budget: float | None = None  # the gate its healthcheck implies (healthcheck_of)
    replicas: int | None = None


@dataclass
class Case:
    """One generated project, as a user has it on disk and runs compose on it."""

    files: dict[str, str] = field(default_factory=dict)  # path under the root -> text
    links: dict[str, str] = field(default_factory=dict)  # symlink under the root -> its target
    cwd: str = "proj"  # where the user stands (may pass through a symlink)
    flags: list[str] = field(default_factory=list)  # -f / -p the user gives
    environ: dict[str, str] = field(default_factory=dict)
    meanings: dict[str, Meaning] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)  # for hypothesis' statistics

    def write(self, root: Path) -> None:
        """The tree under `root`."""
        for relative, text in self.files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for relative, target in self.links.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).symlink_to(target)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON is YAML: quoted where it must be


def _key(name: str) -> str:
    """A mapping key written bare, as users write `on:` or `x-app:` (quoted only where a bare
    word would not parse)."""
    bare = name and name[0] not in "-?:,[]{}#&*!|>'\"%@`" and all(c not in name for c in ": #")
    return name if bare else _scalar(name)


def services_text(services: dict[str, dict[str, Any]], tab: bool = False) -> str:
    """`services:` in block style, each option's value in flow style."""
    lines = ["services:"]
    for name, config in services.items():
        lines.append(f"  {_key(name)}:")
        lines.extend(f"    {key}: {_scalar(value)}" for key, value in config.items())
    if tab:  # compose v2 takes a tab before a comment; PyYAML alone does not
        lines[-1] += "\t# the last option"
    return "\n".join(lines) + "\n"


SHORT_PORTS = (  # (the entry, with {h} for the host port; the address; the protocol)
    ("{h}:3000", "", "tcp"), ("127.0.0.1:{h}:3000", "127.0.0.1", "tcp"),
    ("[::1]:{h}:3000", "::1", "tcp"), ("{h}:3000/udp", "", "udp"),
    ("0.0.0.0:{h}:3000", "", "tcp"),
)  # fmt: skip


@st.composite
def ports(draw: st.DrawFn, environ: dict[str, str]) -> tuple[Any, set[Port]]:
    """One `ports` entry in one of compose's syntaxes, and the host ports it publishes."""
    host = draw(st.sampled_from(HOST_PORTS))
    kind = draw(st.sampled_from(["random", "short", "range", "long", "variable"]))
    if kind == "random":
        return draw(st.sampled_from(["3000", 3000, "3000/udp"])), set()  # a random host port
    if kind == "short":
        text, address, protocol = draw(st.sampled_from(SHORT_PORTS))
        return text.format(h=host), {(address, protocol, host)}
    if kind == "range":
        return f"{host}-{host + 1}:3000-3001", {("", "tcp", host), ("", "tcp", host + 1)}
    if kind == "long":
        protocol = draw(st.sampled_from(["tcp", "udp"]))
        entry: dict[str, Any] = {
            "target": 3000,
            "published": draw(st.sampled_from([host, f"{host}"])),
        }
        if protocol == "udp" or draw(st.booleans()):
            entry["protocol"] = protocol
        address = draw(st.sampled_from(["", "127.0.0.1"]))
        if address:
            entry["host_ip"] = address
        return entry, {(address, protocol, host)}
    variable = draw(st.sampled_from(["HP", "HOST_PORT"]))  # set or not: cases() decides
    return f"${{{variable}:-{host}}}:3000", {("", "tcp", int(environ.get(variable, host)))}


@st.composite
def healthchecks(draw: st.DrawFn) -> tuple[dict[str, Any], bool, float | None]:
    """A healthcheck, whether it switches the image's off, and the gate it implies."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return {"test": ["NONE"]}, True, None
    if kind == 1:
        return {"disable": True}, True, None
    check: dict[str, Any] = {
        "test": draw(st.sampled_from([["CMD", "true"], ["CMD-SHELL", "true"], "true"]))
    }
    seconds = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0}
    for key in seconds:
        if draw(st.booleans()):
            check[key], seconds[key] = draw(st.sampled_from(DURATIONS))
    retries = 3
    if draw(st.booleans()):
        check["retries"] = retries = draw(st.integers(1, 5))
    budget = healthcheck_budget(
        seconds["interval"], seconds["timeout"], seconds["start_period"], retries
    )
    return check, False, budget


@st.composite
def own_options(draw: st.DrawFn, environ: dict[str, str]) -> tuple[dict[str, Any], Meaning]:
    """The options of a service that extends nothing, and what they mean."""
    config: dict[str, Any] = {}
    config["image" if draw(st.booleans()) else "build"] = "img" if draw(st.booleans()) else "."
    if "image" in config and draw(st.booleans()):
        config["image"] = "${IMAGE:-img}"
    published: set[Port] = set()
    if draw(st.booleans()):
        entries = draw(st.lists(ports(environ), min_size=1, max_size=2))
        config["ports"] = [entry for entry, _ in entries]
        published = {port for _, found in entries for port in found}
    disabled, budget = False, None
    if draw(st.booleans()):
        config["healthcheck"], disabled, budget = draw(healthchecks())
    replicas = None
    if draw(st.integers(0, 3)) == 0:
        replicas = draw(st.integers(1, 3))
        if draw(st.booleans()):
            config["deploy"] = {"replicas": replicas}
        else:
            config["scale"] = replicas
    if draw(st.booleans()):
        config["expose"] = draw(st.sampled_from([["3000"], [3000], ["3000/tcp"]]))
    return config, Meaning(None, None, frozenset(published), disabled, budget, replicas)


def _directory(draw: st.DrawFn, case: Case) -> tuple[str, str]:
    """Where the files go and where the user stands: a plain directory, a release reached
    through `current -> releases/r1`, or a subdirectory of the project's."""
    layout = draw(st.sampled_from(["plain", "release", "subdirectory"]))
    case.features.append(f"layout {layout}")
    name = draw(st.sampled_from(DIRECTORY_NAMES))
    if layout == "release":
        case.links["current"] = "releases/r1"
        return "releases/r1", "current"
    if layout == "subdirectory":
        case.files[f"{name}/sub/.keep"] = ""
        return name, f"{name}/sub"
    return name, name


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A project: its files, where the user stands, their flags and environment, its meaning."""
    case = Case()
    for variable, value in (("HP", 8010), ("HOST_PORT", 8011), ("IMAGE", "img")):
        if draw(st.booleans()):
            case.environ[variable] = str(value)
    folder, case.cwd = _directory(draw, case)
    names = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
            | st.sampled_from(YAML11_WORDS + ODD_NAMES),
            min_size=1,
            max_size=4,
            unique_by=str.lower,
        ).filter(lambda found: "anchor" not in found and "common" not in found)
    )
    services: dict[str, dict[str, Any]] = {"anchor": {"image": "img", "volumes": ["./data:/data"]}}
    case.meanings["anchor"] = Meaning()
    template = None
    for index, name in enumerate(names):
        extends = draw(st.integers(0, 3)) if index else draw(st.integers(0, 1)) * 3
        if extends == 1:  # an earlier service of this file
            parent = draw(st.sampled_from(names[:index]))
            services[name] = {"extends": draw(st.sampled_from([{"service": parent}, parent]))}
            case.meanings[name] = Meaning(parent, None, *_inherited(case.meanings[parent]))
            case.features.append("extends")
        elif extends == 3:  # a template in another file
            if template is None:
                template, meaning = draw(own_options(case.environ))
                case.files[f"{folder}/base.yml"] = services_text({"common": template})
                case.meanings["#common"] = meaning
            services[name] = {"extends": {"file": "base.yml", "service": "common"}}
            case.meanings[name] = Meaning(None, "base.yml#common",
                                          *_inherited(case.meanings["#common"]))  # fmt: skip
            case.features.append("extends file")
        else:
            services[name], case.meanings[name] = draw(own_options(case.environ))
    case.meanings.pop("#common", None)
    _files(draw, case, folder, services)
    _name(draw, case, folder)
    return case


def _inherited(meaning: Meaning) -> tuple[Any, ...]:
    return meaning.ports, meaning.disabled, meaning.budget, meaning.replicas


def _files(draw: st.DrawFn, case: Case, folder: str, services: dict[str, dict[str, Any]]) -> None:
    """The main file (one or two YAML documents, perhaps a tab before a comment), perhaps a
    second file adding a service, and how compose is told of them."""
    tab = draw(st.integers(0, 5)) == 0
    if len(services) > 2 and draw(st.integers(0, 4)) == 0:
        items = list(services.items())
        half = len(items) // 2
        text = services_text(dict(items[:half])) + "---\n" + services_text(dict(items[half:]), tab)
        case.features.append("two documents")
    else:
        text = services_text(services, tab)
    if tab:
        case.features.append("tab before a comment")
    extra = services_text({"added": {"image": "img"}}) if draw(st.booleans()) else None
    if extra:
        case.meanings["added"] = Meaning()
    how = draw(st.sampled_from(["default", "-f", "COMPOSE_FILE"]))
    case.features.append(f"files by {how}")
    if how == "default":
        main = draw(st.sampled_from(["compose.yaml", "docker-compose.yml"]))
        case.files[f"{folder}/{main}"] = text
        if extra:
            case.files[f"{folder}/{main.replace('.y', '.override.y')}"] = extra
    else:
        _named_files(draw, case, folder, text, extra, how=how)


def _named_files(
    draw: st.DrawFn, case: Case, folder: str, text: str, extra: str | None, *, how: str
) -> None:
    """The files named with -f or COMPOSE_FILE, relative to where the user stands; the main
    one perhaps a link to a release's file."""
    prefix = ""  # in the release layout the user stands in `current`, the files' directory
    if not case.links.get("current") and case.cwd != folder:
        prefix = os.path.relpath(folder, case.cwd) + "/"
    main, second = "app.yml", "more.yml"
    if draw(st.booleans()) and not case.links:  # a compose file that is a link to a release
        case.files[f"{folder}/releases/r1/docker-compose.yml"] = text
        case.links[f"{folder}/{main}"] = "releases/r1/docker-compose.yml"
        case.features.append("linked file")
    else:
        case.files[f"{folder}/{main}"] = text
    given = [prefix + main]
    if extra:
        case.files[f"{folder}/{second}"] = extra
        given.append(prefix + second)
    if how == "-f":
        case.flags += [word for path in given for word in ("-f", path)]
    else:
        case.environ["COMPOSE_FILE"] = ":".join(given)


def _name(draw: st.DrawFn, case: Case, folder: str) -> None:
    """The project name: -p, COMPOSE_PROJECT_NAME (in the environment or `.env`), or the
    directory's."""
    source = draw(st.sampled_from(["directory", "-p", "environment", ".env"]))
    case.features.append(f"name from {source}")
    name = draw(st.sampled_from(["demo", "my-app", "a_1"]))
    if source == "-p":
        case.flags += ["-p", name]
    elif source == "environment":
        case.environ["COMPOSE_PROJECT_NAME"] = name
    elif source == ".env":
        case.files[f"{folder}/.env"] = f"COMPOSE_PROJECT_NAME={name}\n"
