"""`python -m zdd.guard PID ARGS`: the guardian deploy PID starts (see runner.Guardian).

It reads zdd's lines until end-of-file: `sibling NAME` when a sibling's turn begins, `done`
when zdd ends in a state it reported. Without `done`, zdd died: the guardian runs
`zdd heal ARGS`, waiting for the sibling that was in progress, so that every ready sibling is
back in rotation without anyone running zdd. It imports nothing more until then.
"""

import sys


def main() -> None:
    """Wait for zdd to end; heal when it died."""
    in_progress = ""
    for raw in sys.stdin.buffer:
        word, _, value = raw.decode(errors="replace").strip().partition(" ")
        if word == "done":
            return
        if word == "sibling":
            in_progress = value
    import time

    when = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"zdd: {when}: the deploy (pid {sys.argv[1]}) died: healing", file=sys.stderr)
    from zdd.cli import app

    wait_for = ["--wait-for", in_progress] if in_progress else []
    app(["heal", *sys.argv[2:], *wait_for], prog_name="zdd heal")


if __name__ == "__main__":
    main()
