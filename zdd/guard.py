"""`python -m zdd.guard PID ARGS`: the guardian deploy PID starts (see runner.Guardian).

It reads zdd's lines until end-of-file: `KIND SERVICE` as each step begins, `done` when zdd
ends in a state it reported. Without `done`, zdd died: the guardian runs `zdd heal ARGS`, so
that every ready sibling is back in rotation without anyone running zdd; when zdd died once
a sibling's old container was stopped, the heal waits for (or starts) its new one and admits
it once ready. It imports nothing more until then.
"""

import sys

# steps from which on the sibling's old container is gone: heal waits for its new one
COMING = ("stop", "up", "gate", "admit")


def main() -> None:
    """Wait for zdd to end; heal when it died."""
    in_progress = ""
    for raw in sys.stdin.buffer:
        kind, _, service = raw.decode(errors="replace").strip().partition(" ")
        if kind == "done":
            return
        in_progress = service if kind in COMING else ""
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"zdd: {when}: the deploy (pid {sys.argv[1]}) died: healing", file=sys.stderr)
    from zdd.cli import app

    wait_for = ["--wait-for", in_progress] if in_progress else []
    app(["heal", *sys.argv[2:], *wait_for], prog_name="zdd heal")


if __name__ == "__main__":
    main()
