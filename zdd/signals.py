"""The signals that ask a deploy to stop: SIGINT, SIGTERM, SIGHUP (a closed terminal, a dropped
SSH session) and SIGQUIT. The executor decides what a signal does (rollout.py); this module
installs its handler for the length of a block, and puts the previous handlers back."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def stop_as_interrupt() -> None:
    """Outside a deploy's own handling, each stop signal ends zdd as a Ctrl-C does: the
    command it waits for is ended with its process group (runner.py), then exit 130. By
    default SIGTERM, SIGHUP and SIGQUIT would end zdd alone and leave compose running."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for sig in STOP_SIGNALS[1:]:
        if signal.getsignal(sig) != signal.SIG_IGN:  # `nohup zdd ...` keeps ignoring SIGHUP
            signal.signal(sig, interrupt)


@contextmanager
def on_stop_signals(handle: Callable[[], None]) -> Iterator[None]:
    """Call `handle` on each stop signal while the block runs (it may raise, e.g.
    KeyboardInterrupt, to end the block at once)."""

    def handler(_signum: int, _frame: object) -> None:
        handle()

    previous = {
        sig: signal.signal(sig, handler)
        for sig in STOP_SIGNALS
        # `nohup zdd deploy`: a hang-up is ignored, as the user asked
        if not (sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN)
    }
    try:
        yield
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
