"""`zdd probe` under SIGTERM, as a service manager or a CI runner stops it: it still prints
what it measured, then ends with exit 130 (and an `error` event under --json)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from typer.testing import CliRunner

from zdd.cli import app

runner = CliRunner()


def test_sigterm_ends_probe_with_its_report() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminate_once_handled() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        if signal.getsignal(signal.SIGTERM) is not before:  # never the default: it kills pytest
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_handled, daemon=True)
    killer.start()
    args = ["probe", "http://127.0.0.1:9/", "--duration", "30", "--rate", "20", "--json"]
    result = runner.invoke(app, args)
    killer.join()
    assert result.exit_code == 130, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["probe", "error"]
    assert events[0]["requests"] > 0
