"""The project lock as a hostile or unlucky local user meets it (zdd runs as root)."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from pathlib import Path

import pytest

from zdd.errors import ExitCode, LockHeldError, UsageError
from zdd.lock import clean, holder, lock_path, project_lock

ENGINE = "engine ABCD"
NOBODY = 65534


def env(directory: Path) -> dict[str, str]:
    return {"ZDD_LOCK_DIR": str(directory)}


@pytest.fixture
def locks(tmp_path: Path) -> Path:
    directory = tmp_path / "locks"
    directory.mkdir(mode=0o700)
    return directory


def test_second_holder_gets_exit_4_naming_the_first(locks: Path) -> None:
    with project_lock("demo", ENGINE, "deploy", env(locks)) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert holder("demo", ENGINE, env(locks)) is not None
        with (
            pytest.raises(LockHeldError) as err,
            project_lock("demo", ENGINE, "deploy", env(locks)),
        ):
            pass
        assert err.value.exit_code == ExitCode.LOCKED == 4
        assert "pid" in str(err.value) and "zdd deploy" in str(err.value)
    assert holder("demo", ENGINE, env(locks)) is None, "released on exit"
    with project_lock("demo", ENGINE, "deploy", env(locks)):
        pass


def test_one_engine_one_lock_two_engines_two(locks: Path) -> None:
    assert lock_path("demo", ENGINE, env(locks)) == lock_path("demo", ENGINE, env(locks))
    assert lock_path("demo", ENGINE, env(locks)) != lock_path("demo", "engine EFGH", env(locks))
    assert lock_path("demo", ENGINE, env(locks)) != lock_path("demo2", ENGINE, env(locks))
    odd = lock_path("../../etc/x\n", ENGINE, env(locks))
    assert odd.parent == locks and "/" not in odd.name and "\n" not in odd.name


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(
    locks: Path, tmp_path: Path
) -> None:
    target = tmp_path / "precious"
    target.write_text("root's data\n")
    target.chmod(0o640)
    lock_path("demo", ENGINE, env(locks)).symlink_to(target)
    with (
        pytest.raises(UsageError, match="symlink"),
        project_lock("demo", ENGINE, "deploy", env(locks)),
    ):
        pass
    with pytest.raises(UsageError, match="symlink"):
        holder("demo", ENGINE, env(locks))
    assert target.read_text() == "root's data\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_fifo_at_the_lock_path_is_refused_without_hanging(locks: Path) -> None:
    os.mkfifo(lock_path("demo", ENGINE, env(locks)))
    with (
        pytest.raises(UsageError, match="not a regular file"),
        project_lock("demo", ENGINE, "deploy", env(locks)),
    ):
        pass
    with pytest.raises(UsageError, match="not a regular file"):
        holder("demo", ENGINE, env(locks))  # `zdd status` used to hang here


def test_an_existing_lock_file_keeps_its_mode(locks: Path) -> None:
    path = lock_path("demo", ENGINE, env(locks))
    path.write_text("")
    path.chmod(0o640)
    with project_lock("demo", ENGINE, "deploy", env(locks)):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_lock_file_of_another_user_is_refused_even_while_held(locks: Path) -> None:
    path = lock_path("demo", ENGINE, env(locks))
    path.write_text("pid 1, zdd deploy\n")
    os.chown(path, NOBODY, NOBODY)
    fd = os.open(path, os.O_RDONLY)
    read_end, write_end = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other user holds an flock on it for as long as we keep the pipe
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fcntl.flock(fd, fcntl.LOCK_SH)
            os.close(write_end)
            os.write(ready_write, b"1")
            os.read(read_end, 1)
        finally:
            os._exit(0)
    os.close(fd)
    assert os.read(ready_read, 1) == b"1", "the other user holds it"
    os.close(read_end)
    try:
        with (
            pytest.raises(UsageError, match="owned by uid 65534"),
            project_lock("demo", ENGINE, "deploy", env(locks)),
        ):
            pass
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)
    assert path.read_text() == "pid 1, zdd deploy\n", "not truncated"
    assert path.stat().st_uid == NOBODY


@pytest.mark.parametrize("where", ["directory", "parent"])
def test_a_lock_directory_others_can_change_is_refused(tmp_path: Path, where: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    directory = shared / "locks"
    directory.mkdir(mode=0o700)
    (directory if where == "directory" else shared).chmod(0o777)
    with (
        pytest.raises(UsageError, match=r"another user|other users"),
        project_lock("demo", ENGINE, "deploy", env(directory)),
    ):
        pass


def test_a_missing_lock_directory_is_made_private(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "locks"
    with project_lock("demo", ENGINE, "deploy", env(directory)):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_the_holder_text_is_printed_without_control_characters() -> None:
    assert clean("pid 1\x1b]0;owned\x07\x1b[2J, zdd deploy\n") == "pid 1?]0;owned??[2J, zdd deploy"
    assert len(clean("x" * 10_000)) == 200


def test_missing_parents_are_made_private_whatever_the_umask(tmp_path: Path) -> None:
    """Under umask 002 (common for users), parents made 0775 would refuse themselves."""
    directory = tmp_path / "home" / ".cache" / "zdd" / "locks"
    previous = os.umask(0o002)
    try:
        with project_lock("demo", ENGINE, "deploy", env(directory)):
            pass
    finally:
        os.umask(previous)
    for made in (directory, *list(directory.parents)[:3]):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


@pytest.mark.parametrize(
    ("first", "wait", "said"),
    [
        ("heal", 0.0, "waiting for zdd heal to finish (pid "),  # a heal never takes long
        ("deploy", 30.0, "waiting for the lock, at most 30 s (pid "),  # --lock-wait 30
    ],
)
def test_a_holder_is_waited_for_said_once_then_the_lock_is_held(
    locks: Path, first: str, wait: float, said: str
) -> None:
    """A `zdd heal` is always waited for; a deploy, with --lock-wait. The second says once
    whom it waits for, then holds the lock itself."""
    held, release = threading.Event(), threading.Event()

    def holds() -> None:
        with project_lock("demo", ENGINE, first, env(locks)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holds)
    thread.start()
    held.wait(10)
    waited: list[str] = []

    def told(message: str) -> None:
        waited.append(message)
        release.set()  # the first ends once the second said it waits

    with project_lock("demo", ENGINE, "deploy", env(locks), on_wait=told, wait=wait):
        assert holder("demo", ENGINE, env(locks)) is not None
    thread.join()
    assert len(waited) == 1 and waited[0].startswith(said), waited
    assert f"zdd {first}" in waited[0]


def test_lock_wait_that_runs_out_is_exit_4_saying_how_long(locks: Path) -> None:
    with (
        project_lock("demo", ENGINE, "deploy", env(locks)),
        pytest.raises(LockHeldError) as err,
        project_lock("demo", ENGINE, "rollback", env(locks), wait=0.3),
    ):
        pass
    assert err.value.exit_code == ExitCode.LOCKED
    assert "after waiting 0.3 s (--lock-wait)" in str(err.value)
