"""Where the proxy reaches a new container: its address on a network both are on, read again
while compose may still be attaching either; an engine fault (the proxy's own address handed
out again, a twin network of the same name, no shared network at all) named, never routed to."""

from __future__ import annotations

from zdd.containers import Container, inspect
from zdd.errors import ComposeCommandError, DeployError
from zdd.health import wait_until
from zdd.ports import CommandRunner


def on_same_networks(container: Container, proxy: Container) -> list[str]:
    """The networks both are on: the same name and, where the engine said, the same network
    (the engine lets two networks share a name; a name alone could route nowhere)."""
    return [
        net
        for net in container.networks
        if net in proxy.networks
        and container.network_ids.get(net, "") == proxy.network_ids.get(net, "")
    ]


def shared_address(
    runner: CommandRunner, container: Container, proxy: Container
) -> tuple[str, Container]:
    """The container's IP on a network it shares with the proxy, and the proxy as last read. A
    container or a proxy read while compose was still attaching it (seen with compose v1 on a
    busy machine) is read again, 5 s at most, before that is an error."""
    shared = on_same_networks(container, proxy)
    twins = [net for net in container.networks if net in proxy.networks]
    if not shared and not twins:  # either may have been read before compose attached it
        pair = (container.id, proxy.id)

        def attached() -> tuple[Container, Container, list[str]] | None:
            fresh = {c.id: c for c in inspect(runner, pair)}
            if len(fresh) < 2:
                return None
            new, now = fresh[pair[0]], fresh[pair[1]]
            nets = on_same_networks(new, now)
            return (new, now, nets) if nets else None

        found = wait_until(attached, 5)
        if found is not None:
            container, proxy, shared = found
    if not shared:
        on = ", ".join(container.networks) or "no network"
        raise DeployError(
            f"{container.service} shares no network with the proxy {proxy.name}"
            + (
                f" (two networks are named {twins[0]}: `docker network ls`)"
                if twins
                else f" (its container is on {on}: a fault of compose or the engine, "
                "as the preflight found a network they share in the compose file)"
            )
        )
    net = shared[0]
    ip = container.networks[net]
    if _holds(runner, proxy, ip, net):  # routing there would reach the proxy itself
        raise DeployError(
            f"the engine gave {container.name} the address {ip} on {net} that the proxy "
            f"{proxy.name} already has (a Docker IP allocation fault: `docker network inspect "
            f"{net}`); zdd does not route to it"
        )
    return ip, proxy


def _holds(runner: CommandRunner, proxy: Container, ip: str, net: str) -> bool:
    """Whether the proxy holds this address on that network now (read again: a proxy killed
    meanwhile left its address free for the new container)."""
    if proxy.networks.get(net) != ip:
        return False
    try:
        now = inspect(runner, [proxy.id])
    except ComposeCommandError:  # removed: it holds nothing
        return False
    return bool(now) and now[0].running and now[0].networks.get(net) == ip
