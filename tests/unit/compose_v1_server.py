"""Compose v1 (Debian's docker-compose 1.29, a Python program) answering many requests from one
process: run with the interpreter compose is installed for (`/usr/bin/python3 THIS`), it reads
one JSON request per line on stdin and writes one JSON answer per line on stdout.

Its `main()` is the very function `/usr/bin/docker-compose` calls, given the argv, working
directory and environment a user's process would have; only the 0.5 s that every
docker-compose process spends importing itself is paid once (the property tests ask compose
v1 thousands of times). Requests:
- {"op": "run", "argv": [...], "cwd": DIR, "env": {...}}: `docker-compose ARGV...` ->
  {"rc": N, "stdout": ..., "stderr": ...}
- {"op": "project", ...the same...}: the project name and working directory compose v1
  derives from those options (its `config` does not print them), as `project_from_options`
  does before it connects to an engine -> {"rc": 0, "name": ..., "working_dir": ...}
Not a zdd module: it runs under the system's Python, not zdd's.
"""

import json
import logging
import os
import sys
import tempfile


def captured(call):
    """Run call() with fds 1 and 2 sent to files: (exit status, stdout, stderr)."""
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        status = 0
        try:
            call()
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
        except Exception as error:  # compose's own crash, reported as one
            sys.stderr.write(f"{type(error).__name__}: {error}\n")
            status = 70
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            logging.getLogger().handlers.clear()  # main() adds one handler per call
        out.seek(0)
        err.seek(0)
        return status, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")


def project(argv):
    """The name and working directory compose v1 gives the project these options load."""
    from compose.cli.command import (
        get_config_path_from_options,
        get_project_dir,
        get_project_name,
    )
    from compose.cli.docopt_command import DocoptDispatcher
    from compose.cli.main import TopLevelCommand
    from compose.config import config
    from compose.config.environment import Environment

    dispatcher = DocoptDispatcher(TopLevelCommand, {"options_first": True, "version": "1"})
    options, _, _ = dispatcher.parse(argv[1:])
    override_dir = get_project_dir(options)
    environment = Environment.from_env_file(override_dir or ".", options.get("--env-file"))
    details = config.find(
        ".", get_config_path_from_options(options, environment), environment, override_dir
    )
    name = get_project_name(details.working_dir, options.get("--project-name"), environment)
    return name, os.path.abspath(details.working_dir)


def main():
    from compose.cli import main as compose

    answers = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["docker-compose", *request["argv"][1:]]
        if request["op"] == "project":
            found = {}

            def call(found=found, argv=request["argv"]):
                found["name"], found["working_dir"] = project(argv)

            status, _, err = captured(call)
            answer = {"rc": status, "stderr": err, **found}
        else:
            status, out, err = captured(compose.main)
            answer = {"rc": status, "stdout": out, "stderr": err}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
