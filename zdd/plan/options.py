"""What `zdd deploy` was asked to do."""

from __future__ import annotations

from dataclasses import dataclass

from zdd.order import Order
from zdd.proxy.modes import ProxyMode


@dataclass(frozen=True)
class DeployOptions:
    """What `zdd deploy` was asked to do."""

    services: tuple[str, ...] = ()
    build: bool = True
    no_cache: bool = True
    pull: bool = False
    delay: float = 5.0
    stop_timeout: int | None = None
    health_timeout: float | None = None
    proxy: ProxyMode = ProxyMode.NONE
    proxy_reason: str = "--proxy"  # why this mode (proxy/choose.py), said before any change
    drain_timeout: float = 30.0
    # discovery: the helper image that drains an old container in its network namespace
    drain_image: str | None = None
    settle: float = 2.0  # discovery: for the proxy to find a container zdd connected
    health_path: str | None = None
    proxy_service: str = "proxy"
    pre_stop: str | None = None
    post_start: str | None = None
    verify: str | None = None
    # None: each unit's deploy.update_config.monitor, else 0 (behind the managed nginx: the
    # admission window's default, WINDOW)
    monitor: float | None = None
    # the admission window's error budget; None: `x-zdd`'s, else traffic.Budget's default
    max_error_rate: float | None = None
    max_latency_ratio: float | None = None
    allow_stateful: bool = False  # the stateful services named: replaced stop-first anyway
    order: Order | None = None  # None: each unit's update_config.order, else siblings
    # stop-first, single services start-first
