"""`zdd` and `python -m zdd`: the CLI, with a Ctrl-C while it is imported mapped to 130."""

import sys


def main() -> None:
    """Run the CLI. A Ctrl-C while Python is still importing it changed nothing: exit 130."""
    try:
        from zdd.signals import stop_as_interrupt

        stop_as_interrupt()
        from zdd.cli import app

        app(prog_name="docker zdd" if sys.argv[0] == "docker zdd" else "zdd")
    except KeyboardInterrupt:
        sys.stderr.write("zdd: interrupted\n")
        sys.exit(130)  # ExitCode.INTERRUPTED, without importing more while interrupted


if __name__ == "__main__":
    main()
