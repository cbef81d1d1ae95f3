"""The checks and shapes the command-line options share (zdd/options.py declares them)."""

from __future__ import annotations

import math
import re
from typing import Any

import typer

CONTEXT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]*")  # the docker CLI's rule for names


def context_name(value: str | None) -> str | None:
    """A docker context's name, as the docker CLI allows it (never an option: `--help`)."""
    if value is not None and not CONTEXT_NAME.fullmatch(value):
        raise typer.BadParameter(
            f"{value!r} is not a docker context name (letters, digits, then `_.+-`)"
        )
    return value


def finite(value: float | None) -> float | None:
    """A number of seconds zdd can wait: click's ranges let NaN through (`max=` stops inf)."""
    if value is not None and math.isnan(value):
        raise typer.BadParameter("must be a number, not NaN")
    return value


def number(top: float, least: float = 0, metavar: str = "SECONDS", **more: Any) -> Any:
    """A number option from `least` to `top` (NaN refused)."""
    return typer.Option(metavar=metavar, min=least, max=top, callback=finite, **more)


IMAGE_REF = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._/:@-]*")  # a name[:tag][@digest], loosely


def image_ref(value: str | None) -> str | None:
    """An image reference (never an option of the docker CLI: it cannot start with `-`)."""
    if value is not None and not IMAGE_REF.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not an image reference (NAME[:TAG])")
    return value
