"""`docker zdd ...`: zdd as a docker CLI plugin, for users of docker-rollout's `docker rollout`.

The docker CLI runs a `docker-zdd` executable found in a cli-plugins directory
(`~/.docker/cli-plugins/`, `/usr/local/lib/docker/cli-plugins/`) with its own arguments: first
`docker-cli-plugin-metadata` to list it, then the whole command line, the docker CLI's global
flags included (`docker --context remote zdd deploy` gives `--context remote zdd deploy`).
The flags that name the engine are passed on as the environment every docker and compose
command zdd runs reads; the rest of the line after `zdd` is zdd's own.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from zdd import __version__

METADATA = {
    "SchemaVersion": "0.1.0",
    "Vendor": "zdd",
    "Version": __version__,
    "ShortDescription": "Deploy a Compose service with zero failed requests",
}
# docker's global flags that choose the engine -> the variable docker and compose read
ENGINE_FLAGS = {
    "-c": "DOCKER_CONTEXT",
    "--context": "DOCKER_CONTEXT",
    "-H": "DOCKER_HOST",
    "--host": "DOCKER_HOST",
    "--config": "DOCKER_CONFIG",
}


def split_docker_args(args: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(environment from docker's global flags, zdd's own arguments after `zdd`)."""
    if "zdd" not in args:
        return {}, list(args)
    at = list(args).index("zdd")
    env: dict[str, str] = {}
    globals_ = list(args[:at])
    for index, arg in enumerate(globals_):
        flag, equals, value = arg.partition("=")
        if flag not in ENGINE_FLAGS:
            continue
        if not equals:
            value = globals_[index + 1] if index + 1 < len(globals_) else ""
        if value:
            env[ENGINE_FLAGS[flag]] = value
    return env, list(args[at + 1 :])


def main() -> None:
    """The `docker-zdd` executable."""
    args = sys.argv[1:]
    if args[:1] == ["docker-cli-plugin-metadata"]:
        sys.stdout.write(json.dumps(METADATA) + "\n")
        return
    env, own = split_docker_args(args)
    if "DOCKER_HOST" in env:  # docker: -H beats a context; so must the commands zdd runs
        os.environ.pop("DOCKER_CONTEXT", None)
    os.environ.update(env)
    sys.argv = ["docker zdd", *own]
    from zdd.__main__ import main as zdd_main

    zdd_main()
