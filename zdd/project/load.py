"""Load a project: the files as compose picks them, compose's own `config` of them (cached),
and the `extends` graph of the raw files, joined into one frozen Project."""

from __future__ import annotations

from pathlib import Path

from zdd.compose import ComposeBinary, ComposeCli
from zdd.errors import ComposeFileError
from zdd.ports import CommandRunner
from zdd.project.config import config_files, run_config, undecodable
from zdd.project.extends import ExtendsGraph
from zdd.project.files import LoadOptions, absolute, dotenv, find_files, project_name
from zdd.project.legacy import check_formats, write_translation
from zdd.project.model import Project, Service, check_name, find_groups
from zdd.project.rawyaml import read_yaml
from zdd.project.settings import check_settings, top_level_settings


def load_project(options: LoadOptions, binary: ComposeBinary, runner: CommandRunner) -> Project:
    """Ask `binary` for the effective configuration; read the raw files for the groups."""
    start = absolute(options.cwd, options.project_directory or ".")
    env_file = absolute(options.cwd, options.env_file) if options.env_file else None
    early = {**dotenv(env_file or start / ".env"), **options.environ}
    files = find_files(options.files, options.cwd, early, start)
    directory = (
        absolute(options.cwd, options.project_directory)
        if options.project_directory
        else files[0].parent
    )
    documents = [(path, read_yaml(path)) for path in files]
    legacy = check_formats(documents)
    given: tuple[Path, ...] = tuple(files)
    pinned = bool(options.project_directory)
    if legacy and binary.major >= 2:  # compose v2 cannot read v1: give it a translation
        given, pinned = write_translation(documents, options.environ), True
    cli = ComposeCli(
        binary, given, options.project_name or "", directory if pinned else None, env_file
    )
    dotenvs = [env_file or directory / ".env", start / ".env", options.cwd / ".env"]
    graph: ExtendsGraph | None = None
    inputs = None
    try:  # what `config` reads, for its cache; a file compose rejects is for compose to say
        graph = ExtendsGraph.of(documents)
        inputs = config_files(graph, [*files, *given], directory, [*dotenvs, Path.cwd() / ".env"])
    except ComposeFileError:
        graph = None
    try:
        model = run_config(runner, cli, options.environ, inputs)
    except ComposeFileError as err:
        raise undecodable(err, env_file or directory / ".env") from None
    graph = graph or ExtendsGraph.of(documents)
    services = {}
    order = {name: index for index, name in enumerate(graph.order())}
    for name, config in sorted(model["services"].items(), key=lambda i: order.get(i[0], 1e9)):
        check_name(name)
        extension = graph.extension(name)
        effective = {**config, "x-zdd": extension} if extension else dict(config)
        services[name] = Service(name, effective, *graph.parent_of(name))
    if not services:
        raise ComposeFileError(
            f"no services in {', '.join(str(p) for p in files)}; "
            "zdd needs a base service and siblings that `extends` it"
        )
    name = str(model.get("name") or "") or project_name(
        options, {**dotenv(env_file or directory / ".env"), **options.environ}, directory
    )
    settings = model.get("x-zdd", top_level_settings(doc for _, doc in documents))
    return Project(
        name=name,
        directory=directory,
        files=tuple(files),
        legacy=legacy,
        services=services,
        groups=find_groups(services),
        settings=check_settings(settings),
        top={key: model.get(key) or {} for key in ("networks", "volumes")},
        cli=ComposeCli(binary, given, name, cli.project_directory, env_file),
    )
