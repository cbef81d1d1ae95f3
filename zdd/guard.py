"""`python -P -m zdd.guard PID ARGS`: the guardian deploy PID starts (see runner.Guardian).

It reads zdd's lines until end-of-file: `KIND SERVICE OLD-CONTAINER` as each step begins
(a single service's `retire`: its old containers, separated by commas),
`done` when zdd ends in a state it reported. Without `done`, zdd died: the guardian runs
`zdd heal ARGS`, so that every ready sibling is back in rotation without anyone running zdd.
When zdd died once a sibling's old container was being stopped, the heal never admits that
container while it runs (a `compose stop` outlives zdd), waits for (or starts) the sibling's
new one and admits it once ready. It imports nothing more until then.
"""

import sys

# steps from which on the sibling's old container is gone: heal waits for its new one
COMING = ("stop", "up", "gate", "admit")


def main() -> None:
    """Wait for zdd to end; heal when it died."""
    in_progress: list[str] = []  # the sibling being replaced, its old container
    for raw in sys.stdin.buffer:
        kind, service, old = [*raw.decode(errors="replace").split(), "", "", ""][:3]
        if kind == "done":
            return
        # a single's `retire`: its old containers are being stopped, never to be admitted
        in_progress = [service, old] if kind in COMING else ["", old] if kind == "retire" else []
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"zdd: {when}: the deploy (pid {sys.argv[1]}) died: healing", file=sys.stderr)
    from zdd.cli import app

    wait_for = []
    if in_progress:
        service, old = in_progress
        wait_for = ["--wait-for", service] if service else []
        wait_for += [arg for stale in old.split(",") if stale for arg in ("--stale", stale)]
    app(["heal", *sys.argv[2:], *wait_for], prog_name="zdd heal")


if __name__ == "__main__":
    main()
