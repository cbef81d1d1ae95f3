"""RESULTS.md is written by more than one benchmark: each owns a marked section of it."""

from __future__ import annotations

import re
from pathlib import Path


def _marks(name: str) -> tuple[str, str]:
    return f"<!-- bench/{name} begin -->\n", f"<!-- bench/{name} end -->\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Put `body` in the section owned by bench/`name`, replacing what it held before."""
    start, end = _marks(name)
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + text[text.index(end) + len(end) :]
    path.write_text(text.rstrip("\n") + f"\n\n{start}{body.rstrip()}\n{end}")


def marked_sections(path: Path) -> str:
    """Every marked section of the file, as they are (for a writer of the rest to keep)."""
    if not path.exists():
        return ""
    found = re.findall(
        r"<!-- bench/(\S+) begin -->\n.*?<!-- bench/\1 end -->\n", path.read_text(), re.S
    )
    text = path.read_text()
    kept = []
    for name in found:
        start, end = _marks(name)
        kept.append(text[text.index(start) : text.index(end) + len(end)])
    return "".join(f"\n{section}" for section in kept)
