"""Runner.shell: many scripts in one long-lived shell process (a local `sh` stands in for
`docker exec -i PROXY sh -s`)."""

from __future__ import annotations

import signal

import pytest

from zdd.errors import ComposeCommandError
from zdd.runner import Runner


def test_a_shell_runs_scripts_with_arguments_status_and_merged_stderr() -> None:
    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        script = "set -- 'two words' x\nprintf '%s|%s\\n' \"$1\" \"$2\"; echo oops >&2"
        assert shell.run(script, timeout=5) == "two words|x\noops\n"
        with pytest.raises(ComposeCommandError) as failed:
            shell.run("echo why; exit 3", timeout=5)
        assert (failed.value.returncode, failed.value.stderr) == (3, "why\n")
        assert shell.run("read line || echo 'stdin is empty'", timeout=5) == "stdin is empty\n"
        assert shell.run("echo same shell", timeout=5) == "same shell\n"  # `exit` above: subshell
        assert shell.run("printf 'no newline'", timeout=5) == "no newline"
        assert runner.calls == 5


def test_a_shell_that_ended_is_started_again_and_a_slow_script_times_out() -> None:
    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        pid = shell.run("echo $$", timeout=5)
        with pytest.raises(ComposeCommandError) as ended:
            shell.run("kill $$", timeout=5)  # the shell itself: as when its container restarts
        assert ended.value.returncode == -1
        assert shell.run("echo $$", timeout=5) != pid
        with pytest.raises(ComposeCommandError, match=r"timed out after 0\.3 s"):
            shell.run("sleep 5", timeout=0.3)
        assert shell.run("echo back", timeout=5) == "back\n"


def test_a_shell_stays_in_step_after_an_interrupt_and_reads_any_bytes() -> None:
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    with Runner() as runner:
        shell = runner.shell(["sh", "-s"])
        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt):
                shell.run("sleep 2; echo first; exit 3", timeout=10)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert shell.run("echo second", timeout=5) == "second\n"  # not the first's output
        assert shell.run(r"printf 'caf\351\n'", timeout=5) == "caf\ufffd\n"  # Latin-1 é
