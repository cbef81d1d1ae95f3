"""One reading of the stack: only the model package (zdd/project/) reads compose files with
PyYAML or runs compose's `config`."""

from __future__ import annotations

import re
from pathlib import Path

import zdd

PACKAGE = Path(zdd.__file__).parent
MODEL = PACKAGE / "project"
READS = {
    "imports yaml": re.compile(r"^\s*(import yaml|from yaml\b)", re.MULTILINE),
    "runs compose config": re.compile(r"\.config\(\s*json_output"),
}


def test_only_the_model_package_reads_compose_data() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)} {what}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if MODEL not in path.parents
        for what, pattern in READS.items()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_patterns_find_what_the_model_does() -> None:
    texts = "".join(path.read_text(encoding="utf-8") for path in MODEL.glob("*.py"))
    assert all(pattern.search(texts) for pattern in READS.values())
