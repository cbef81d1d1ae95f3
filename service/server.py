"""Demo HTTP app for zdd (Python standard library only).

GET|POST|HEAD /   200, JSON {"version", "host", "method", "path", "received"}
GET /version      200, the version as plain text
GET /health       200 "ok" when ready, 503 while warming up or once unhealthy
GET /stream?seconds=S   server-sent events: `data: N` every 0.2 s for S seconds (default 5),
                        then `event: end`
GET /ws?seconds=S       a WebSocket: a text frame `N` every 0.2 s for S seconds, then a close

version = "<VERSION>-<BUILD_ID>" (files next to this script; BUILD_ID is written at image
build time, "dev" when absent). host = the hostname (the container id under Docker).

Environment (all off by default):
  PORT                     port to listen on (default 3000), on HOST (default 0.0.0.0)
  WARMUP_SECONDS           listen at once, but answer 503 on every path for that long
  LISTEN_DELAY_SECONDS     sleep before binding the port
  REQUEST_DELAY_SECONDS    float; sleep in each request to a non-health path before answering
  SIGTERM_MODE             graceful (default): on SIGTERM/SIGINT stop accepting, finish the
                           in-flight requests (bounded by SHUTDOWN_TIMEOUT_SECONDS, default
                           30), exit 0.  abrupt: exit at once with os._exit(143)
  CRASH_ON_START           1: exit 1 right away
  UNHEALTHY_AFTER_SECONDS  /health answers 503 once the process is that old
  ERROR_RATE               float 0..1: that share of the requests to other paths than /health
                           answer 500 (spread evenly: with 0.2, every fifth)
  NEEDS_TCP                host:port (a stand-in database): warming up (503) until a TCP
                           connection to it opens, tried every 0.2 s
"""

import base64
import hashlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
STARTED = time.monotonic()


def _env_float(name, default=0.0):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        log(f"ignoring {name}={raw!r}: not a number")
        return default


def log(msg):
    print(f"[server {os.getpid()}] {msg}", flush=True)


def _read(name, default):
    try:
        with open(os.path.join(HERE, name), encoding="utf-8") as fh:
            return fh.read().strip() or default
    except OSError:
        return default


VERSION = f"{_read('VERSION', '0')}-{_read('BUILD_ID', 'dev')}"
HOSTNAME = socket.gethostname()
PORT = int(os.environ.get("PORT", "3000") or 3000)
HOST = os.environ.get("HOST", "0.0.0.0") or "0.0.0.0"
WARMUP = _env_float("WARMUP_SECONDS")
LISTEN_DELAY = _env_float("LISTEN_DELAY_SECONDS")
REQUEST_DELAY = _env_float("REQUEST_DELAY_SECONDS")
UNHEALTHY_AFTER = _env_float("UNHEALTHY_AFTER_SECONDS", -1.0)
SHUTDOWN_TIMEOUT = _env_float("SHUTDOWN_TIMEOUT_SECONDS", 30.0)
ERROR_RATE = _env_float("ERROR_RATE")
SIGTERM_MODE = (os.environ.get("SIGTERM_MODE", "graceful") or "graceful").strip().lower()

ready_at = None  # monotonic time when warm-up ends; set when the port is bound
served = [0]  # requests to other paths than /health so far (ERROR_RATE)
served_lock = threading.Lock()


def _fails_now():
    """Whether this request is one of the ERROR_RATE share that answers 500."""
    with served_lock:
        served[0] += 1
        n = served[0]
    return int(n * ERROR_RATE) > int((n - 1) * ERROR_RATE)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive connection can hold a
    # graceful shutdown (nginx talks to upstreams without keep-alive unless configured).
    protocol_version = "HTTP/1.0"
    server_version = "zdd-demo"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet: no line per request
        pass

    def _send(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.send_header("X-Version", VERSION)
        self.send_header("X-Host", HOSTNAME)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drain_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            chunk = self.rfile.read(min(65536, length - received))
            if not chunk:
                break
            received += len(chunk)
        return received

    def _handle(self):
        received = self._drain_body() if self.command == "POST" else 0
        now = time.monotonic()
        path = self.path.split("?", 1)[0]
        if ready_at is None or now < ready_at:
            self._send(503, "warming up\n")
            return
        if path == "/health":
            if UNHEALTHY_AFTER >= 0 and now - STARTED >= UNHEALTHY_AFTER:
                self._send(503, "unhealthy\n")
            else:
                self._send(200, "ok\n")
            return
        if REQUEST_DELAY > 0:
            time.sleep(REQUEST_DELAY)
        if ERROR_RATE > 0 and _fails_now():
            self._send(500, "failed (ERROR_RATE)\n")
            return
        if path == "/version":
            self._send(200, VERSION + "\n")
            return
        if path in ("/stream", "/ws"):
            self._stream(path == "/ws")
            return
        body = {"version": VERSION, "host": HOSTNAME, "method": self.command,
                "path": path, "received": received}
        self._send(200, json.dumps(body) + "\n", "application/json")

    def _stream(self, websocket):
        """A long-lived response: server-sent events, or WebSocket frames; one every 0.2 s."""
        query = dict(p.partition("=")[::2] for p in self.path.partition("?")[2].split("&") if p)
        seconds = float(query.get("seconds") or 5)
        if websocket:
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                              f"X-Version: {VERSION}\r\n\r\n").encode())
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
            self.send_header("X-Version", VERSION)
            self.end_headers()
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            text = str(n).encode()
            self.wfile.write(bytes([0x81, len(text)]) + text if websocket
                             else b"data: " + text + b"\n\n")
            self.wfile.flush()
            n += 1
            time.sleep(0.2)
        # the end, said: a stream cut short (its container stopped) ends without it
        self.wfile.write(bytes([0x88, 0]) if websocket else b"event: end\ndata: end\n\n")

    do_GET = do_POST = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True          # we wait for in-flight requests ourselves, bounded
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.inflight = 0
        self.idle = threading.Condition()

    def process_request_thread(self, request, client_address):
        with self.idle:
            self.inflight += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.idle:
                self.inflight -= 1
                self.idle.notify_all()

    def handle_error(self, request, client_address):
        # a client that went away mid-request is not worth a traceback
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            log(f"error serving {client_address}: {exc!r}")


def _wait_for(address, warm_until, stop):
    """Ready once `address` (host:port) accepts a TCP connection, not before the warm-up."""
    global ready_at
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        log(f"NEEDS_TCP={address!r} is not host:port: never ready")
        return
    while not stop.is_set():
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            stop.wait(0.2)
            continue
        log(f"{address} reached")
        ready_at = max(warm_until, time.monotonic())
        return


def main():
    global ready_at
    stop = threading.Event()

    def on_signal(signum, _frame):
        if SIGTERM_MODE == "abrupt":
            os._exit(143)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if os.environ.get("CRASH_ON_START", "").strip() not in ("", "0"):
        log(f"version {VERSION}: CRASH_ON_START set, exiting 1")
        sys.exit(1)
    if LISTEN_DELAY > 0:
        log(f"version {VERSION}: waiting {LISTEN_DELAY:g}s before listening")
        if stop.wait(LISTEN_DELAY):
            log("stopped before listening")
            return 0

    server = Server((HOST, PORT), Handler)
    warm_until = time.monotonic() + max(WARMUP, 0.0)
    needs = os.environ.get("NEEDS_TCP", "").strip()
    if needs:
        threading.Thread(target=_wait_for, args=(needs, warm_until, stop), daemon=True).start()
    else:
        ready_at = warm_until
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="serve", daemon=True)
    thread.start()
    log(f"version {VERSION} on {HOSTNAME} listening on {HOST}:{PORT}"
        f" (warm-up {WARMUP:g}s, request delay {REQUEST_DELAY:g}s, sigterm {SIGTERM_MODE})")

    while not stop.wait(1.0):
        pass

    t0 = time.monotonic()
    log("SIGTERM: stop accepting, finishing in-flight requests")
    server.shutdown()  # serve_forever returns; the listening socket is still open
    # connections the kernel already accepted (backlog) are served, not reset
    while select.select([server.socket], [], [], 0)[0]:
        server.handle_request()
    server.socket.close()
    deadline = t0 + max(SHUTDOWN_TIMEOUT, 0.0)
    with server.idle:
        while server.inflight > 0 and time.monotonic() < deadline:
            server.idle.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
        left = server.inflight
    if left:
        log(f"stopped after {time.monotonic() - t0:.2f}s with {left} request(s) unfinished")
    else:
        log(f"stopped after {time.monotonic() - t0:.2f}s, all requests finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
