"""Values the plan reads from a service's compose configuration: replicas, the healthcheck's
budget, compose's durations."""

from __future__ import annotations

import re
from collections.abc import Mapping

from zdd.errors import UsageError
from zdd.health import healthcheck_budget


def replicas(config: Mapping[str, object]) -> int | str | None:
    """`deploy.replicas`, else `scale`, else None (a text that is no count is returned as is)."""
    deploy = config.get("deploy")
    value = deploy.get("replicas") if isinstance(deploy, dict) else None
    if value is None:
        value = config.get("scale")
    if value is None:
        return None
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def _disabled(config: Mapping[str, object]) -> bool:
    check = config.get("healthcheck")
    return isinstance(check, dict) and (
        bool(check.get("disable")) or check.get("test") in (["NONE"], "NONE")
    )


def healthcheck_of(config: Mapping[str, object]) -> float | None:
    """The budget a compose healthcheck implies: start_period + interval x retries, + margin."""
    check = config.get("healthcheck")
    if not isinstance(check, dict) or check.get("disable"):
        return None
    test = check.get("test")
    if test in (["NONE"], "NONE") or test is None:
        return None
    interval = parse_duration(check.get("interval", "30s"))
    timeout = parse_duration(check.get("timeout", "30s"))
    start = parse_duration(check.get("start_period", "0s"))
    retries = str(check.get("retries", 3)).strip()
    if not retries.isdigit():
        raise UsageError(f"healthcheck: retries must be a whole number, got {retries!r}")
    return healthcheck_budget(interval, timeout, start, int(retries))


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Compose durations (`1m30s`, `500ms`, `10`) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {value!r} (examples: 5s, 1m30s, 500ms)")
    return sum(float(n) * _UNITS[u] for n, u in parts)
