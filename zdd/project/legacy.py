"""The legacy v1 format (services at the top level): telling it apart, and translating it to
the Compose spec, so that compose v2 (which rejects it: "additional properties ... not
allowed") can resolve it.

Only the format changes: `${VAR}`, `.env`, `extends` and merging are left to compose. Compose
1.29 runs v1 services on the default bridge network (`docker-compose config` shows
`network_mode: bridge`); the translation keeps that. It is written outside the repository,
so the user's file runs unchanged on a current Docker host.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zdd.errors import ComposeFileError
from zdd.paths import cache_dir
from zdd.project.rawyaml import dump_yaml, read_yaml

# Top-level keys of the Compose spec: https://docs.docker.com/reference/compose-file/
SPEC_TOP_LEVEL = frozenset(
    ("version", "services", "name", "networks", "volumes", "secrets", "configs", "include")
)
# v1 key -> spec key, for the v1 keys that were renamed.
RENAMED = {"net": "network_mode", "log_driver": "logging.driver", "log_opt": "logging.options"}
MAX_FILES = 100  # files an `extends.file` chain may reach


def is_legacy(document: Mapping[str, Any]) -> bool:
    """True for the v1 format: services at the top level, no `version:` or `services:`.

    A file with only top-level spec keys (an override adding `networks:`) is not v1.
    """
    if "services" in document or "version" in document:
        return False
    return not all(key in SPEC_TOP_LEVEL or str(key).startswith("x-") for key in document)


def check_formats(documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> bool:
    """Whether the files are in the legacy v1 format; mixing formats is an error."""
    kinds = {is_legacy(doc) for _, doc in documents}
    if len(kinds) > 1:
        raise ComposeFileError(
            "cannot mix the legacy v1 format (services at the top level) with other formats: "
            + ", ".join(str(path) for path, _ in documents)
        )
    return kinds.pop()


def services_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A raw file's service mappings (the top level of a v1 file, where an `x-` key is an
    extension; under `services:` compose keeps a service named `x-app`)."""
    legacy = is_legacy(document)
    services = document if legacy else document.get("services")
    if not isinstance(services, dict):
        return {}
    return {
        str(name): config
        for name, config in services.items()
        if isinstance(config, dict) and not (legacy and str(name).startswith("x-"))
    }


def translate_service(
    config: Mapping[str, Any], directory: Path, *, override: bool = False
) -> dict[str, Any]:
    """One raw v1 service in spec form; its paths made absolute against its file's
    `directory` (the translation lives elsewhere), except where a variable decides them. An
    `override` file's service gets no default network mode: it would replace the base's."""
    spec: dict[str, Any] = {}
    for key, value in config.items():
        target = RENAMED.get(key, key)
        if key in RENAMED and "." in target:
            outer, inner = target.split(".")
            if not isinstance(spec.get(outer), dict):
                spec[outer] = {}
            spec[outer][inner] = value
        else:
            spec[target] = value
    if "build" in spec:
        build = spec["build"]
        build = {"context": build} if isinstance(build, str) else dict(build or {})
        build["context"] = _absolute(build.get("context", "."), directory)
        if "dockerfile" in spec:
            build["dockerfile"] = spec.pop("dockerfile")
        spec["build"] = build
    if "env_file" in spec:
        files = spec["env_file"] if isinstance(spec["env_file"], list) else [spec["env_file"]]
        spec["env_file"] = [_absolute(f, directory) for f in files]
    if "network_mode" not in spec and "extends" not in spec and not override:
        spec["network_mode"] = "bridge"  # an extending service inherits its base's
    return spec


def _absolute(path: Any, directory: Path) -> Any:
    text = str(path)
    return text if "$" in text or "://" in text else str((directory / text).resolve())


class _Translator:
    """Writes the translation of each v1 file once, its `extends.file` targets included."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.folder = cache_dir(environ) / "legacy"
        self.written: dict[Path, Path] = {}

    def document(
        self, source: Path, document: Mapping[str, Any], *, override: bool = False
    ) -> dict[str, Any]:
        services = {}
        for name, config in services_of(document).items():
            spec = translate_service(config, source.parent, override=override)
            extends = spec.get("extends")
            if isinstance(extends, dict) and isinstance(extends.get("file"), str):
                target = (source.parent / extends["file"]).resolve()
                spec["extends"] = {**extends, "file": str(self.file(target))}
            services[name] = spec
        return {"services": services}

    def file(self, source: Path) -> Path:
        """The spec-format file for `source`: itself when it is not v1 or does not exist."""
        if source in self.written or len(self.written) >= MAX_FILES or not source.is_file():
            return self.written.get(source, source)
        self.written[source] = source  # an extends loop ends here; compose names the cycle
        raw = read_yaml(source)
        if is_legacy(raw):
            self.written[source] = self.write(source, raw)
        return self.written[source]

    def write(self, source: Path, document: Mapping[str, Any], *, override: bool = False) -> Path:
        """Write one file's translation (named by its content); compose merges the files."""
        text = f"# generated by zdd from {source}\n"
        text += dump_yaml(self.document(source, document, override=override))
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = self.folder / f"{source.parent.name or 'project'}-{digest}.yml"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        return path


def write_translation(
    documents: Sequence[tuple[Path, Mapping[str, Any]]], environ: Mapping[str, str]
) -> tuple[Path, ...]:
    """The spec-format translation of each v1 file, in order: compose merges them as it
    would merge the originals."""
    translator = _Translator(environ)
    return tuple(
        translator.write(path, document, override=index > 0)
        for index, (path, document) in enumerate(documents)
    )
