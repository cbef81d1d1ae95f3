"""Where zdd meets the terminal: every error as one stderr line and its exit code, and every
line written (without control characters, surviving a closed stdout)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

from zdd import output
from zdd.app.session import Progress
from zdd.errors import ExitCode, ending


class OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr (exit 2), like every other error of zdd, instead of
    click's four (`Usage: ...`, `Try ...`, a blank line, `Error: ...`)."""

    def main(  # type: ignore[override]  # the same parameters, by keyword
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; a usage error is `zdd: error: WHAT (see COMMAND --help)`, exit 2."""
        try:
            code = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except typer.Abort:
            echo("zdd: interrupted", err=True)
            code = int(ExitCode.INTERRUPTED)
        except Exception as err:
            # click's UsageError, whether typer vendors click or not
            if not hasattr(err, "format_message"):
                raise
            if type(err).__name__ == "NoArgsIsHelpError":  # `zdd` alone: the help, as click does
                err.show()  # type: ignore[attr-defined]
                sys.exit(getattr(err, "exit_code", ExitCode.USAGE))
            context = getattr(err, "ctx", None)
            where = f" (see {context.command_path} --help)" if context is not None else ""
            message = f"error: {err.format_message()}{where}"
            code = int(getattr(err, "exit_code", ExitCode.USAGE))
            _error(message, code, "--json" in (sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def boundary(debug: bool, as_json: bool = False) -> Iterator[None]:
    """Turn every error into one stderr line (and, with --json, an `error` event on stdout)
    and the exit code of the contract; a traceback only with --debug."""
    logging.basicConfig(level=logging.WARNING, format="zdd: %(message)s", stream=sys.stderr)
    logging.getLogger("zdd").setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
        return
    except (typer.Exit, typer.Abort):
        raise
    except (KeyboardInterrupt, Exception) as err:
        if debug and not isinstance(err, KeyboardInterrupt):
            raise
        code, message = ending(err)
    _error(message, code, as_json)
    raise typer.Exit(int(code)) from None


def _error(message: str, code: int, as_json: bool) -> None:
    """One line on stderr, and an `error` event on stdout with --json."""
    if as_json:
        echo(json.dumps({"event": "error", "message": message, "exit_code": int(code)}))
    echo(f"zdd: {message}", err=True)


def show(lines: Iterable[output.Line]) -> None:
    """Print each line where it goes."""
    for line in lines:
        echo(line.text, err=line.err)


def echo(text: str, *, err: bool = False) -> None:
    """typer.echo without control characters, that survives a terminal or pipe that went away
    (SIGHUP, `| head`): zdd then carries on silently, as it must to leave every sibling
    serving."""
    # Container logs, health output and names end up in messages: no terminal escapes.
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    try:
        typer.echo(text, err=err)
    except OSError:
        devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the rest of the run
        sys.stdout = sys.stderr = devnull


def printer(as_json: bool) -> Progress:
    """Where the use cases' events, progress lines and probe reports are printed."""
    return Progress(
        event=lambda event: show([output.event_line(event, as_json)]),
        say=lambda message: show([output.said(message)]),
        probed=lambda report: show(output.probe_lines(report, as_json)),
    )
