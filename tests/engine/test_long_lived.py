"""Long-lived connections (server-sent events, WebSockets) across a deploy behind the managed
nginx: none is cut when it ends within the drain window, and zdd counts, per drained sibling,
how many were open, finished and cut when they do not."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

from tests.engine.conftest import Stack, note, on

pytestmark = pytest.mark.docker

CLIENTS = 3  # of each kind


@dataclass
class Client:
    """One stream through the proxy, read to its end in a thread: whether it ended as the
    server ends it (the WebSocket's close frame, the event stream's last chunk)."""

    port: int
    kind: str  # "sse" or "ws"
    seconds: float
    events: int = 0
    ended: bool = False
    opened: bool = False

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        path = f"/{'ws' if self.kind == 'ws' else 'stream'}?seconds={self.seconds:g}"
        headers = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if self.kind == "ws":
            key = base64.b64encode(os.urandom(16)).decode()
            headers += "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            headers += f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=self.seconds + 30) as s:
            s.sendall((headers + "\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            self.opened = head.split(b" ")[1] in (b"101", b"200")
            try:
                while True:
                    self._count(data)
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            self._count(data)

    def _count(self, data: bytes) -> None:
        if self.kind == "ws":  # frames of at most 125 bytes: 0x81 LEN TEXT; close: 0x88 0x00
            self.events = data.count(b"\x81")
            self.ended = data.endswith(b"\x88\x00")
        else:  # `data: N` events, then `event: end`
            self.events = data.count(b"data: ")
            self.ended = b"event: end" in data


def deploy_across(
    stack: Stack, seconds: float, drain_timeout: str
) -> tuple[subprocess.CompletedProcess[str], list[Client], dict[str, dict[str, int]]]:
    """Streams of `seconds` opened, then a deploy under them; its result, the clients once
    done, and each drain's connection counts."""
    stack.deploy()
    clients = [Client(stack.port, kind, seconds) for kind in ("sse", "ws") for _ in range(CLIENTS)]
    threads = [c.start() for c in clients]
    time.sleep(1)
    assert all(c.opened and c.events for c in clients), [(c.kind, c.events) for c in clients]
    result = stack.zdd("deploy", "--json", "--drain-timeout", drain_timeout)
    for thread in threads:
        thread.join(seconds + 30)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    counted = {e["service"]: e["connections"] for e in events if e.get("kind") == "drain"}
    ended = sum(c.ended for c in clients)
    note(f"streams of {seconds:g} s, --drain-timeout {drain_timeout}: {counted}, {ended} ended")
    assert result.returncode == 0, result.stderr
    return result, clients, counted


# The drain is nginx's and zdd's count, whichever compose stops the container: one version each
@on("v2")
def test_streams_that_end_within_the_drain_window_are_not_cut(stack: Stack) -> None:
    # 30 s: still open when service_a's drain begins however slow the build (4 s streams had
    # ended by then in a loaded CI run), ending well within the drain's 90 s
    _, clients, counted = deploy_across(stack, 30, "90")
    assert all(c.ended and c.events >= 140 for c in clients), [(c.kind, c.events) for c in clients]
    assert counted["service_a"]["open"] >= 1, counted  # the streams to it, waited for
    assert all(d["cut"] == 0 and d["finished"] == d["open"] for d in counted.values()), counted


@on("v1")
def test_streams_that_outlast_the_drain_window_are_counted_as_cut(stack: Stack) -> None:
    stack.env["SHUTDOWN_TIMEOUT_SECONDS"] = "1"  # the app ends its streams 1 s after SIGTERM
    result, clients, counted = deploy_across(stack, 120, "1")
    assert not any(c.ended for c in clients), "every stream was cut by its sibling's stop"
    assert sum(d["cut"] for d in counted.values()) == len(clients), counted
    assert all(d["open"] >= d["cut"] for d in counted.values()), counted
    warnings = [json.loads(line) for line in result.stdout.splitlines()]
    assert any("still busy after --drain-timeout" in e.get("message", "") for e in warnings)
