"""labs/forkserver.py with a real fork server process (a small program of ours, not
JupyterLab): what a forked child gets, what is refused, and the fork server's life
beside the process that holds its other end."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from labs.forkserver import (
    FD_VARIABLE,
    ForkServer,
    ForkServerError,
    environment_reads,
)

pytestmark = pytest.mark.engine_free  # no database: once, not again on PostgreSQL

ROOT = Path(__file__).resolve().parents[2]
HOME = str(ROOT)  # where a child runs when the test does not care

# Each child writes what it became to $REPORT, then exits with $EXIT, or sleeps.
PROGRAM = textwrap.dedent(
    f"""
    import json, os, signal, sys, time
    sys.path.insert(0, {str(ROOT)!r})
    from labs import forkserver

    IMPORTED_AT = os.environ.get("IMPORTED")

    def run():
        fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
        report = {{
            "argv": sys.argv,
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
            "sid": os.getsid(0),
            "fds": fds,
            "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
            "sigint_raises": signal.getsignal(signal.SIGINT)
            is signal.default_int_handler,
            "imported_at": IMPORTED_AT,
        }}
        with open(os.environ["REPORT"], "w") as out:
            json.dump(report, out)
        if os.environ.get("SLEEP"):
            time.sleep(float(os.environ["SLEEP"]))
        return int(os.environ.get("EXIT", "0"))

    forkserver.serve(
        forkserver.channel_from_environment(), run, import_time_env=("IMPORTED",)
    )
    """
)


@pytest.fixture
def program(tmp_path) -> list[str]:
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    return [sys.executable, str(path)]


@pytest.fixture
def server(program, tmp_path):
    running = ForkServer(
        program, cwd=tmp_path, env={"PATH": os.environ["PATH"], "IMPORTED": "yes"}
    )
    running.start()
    yield running
    running.stop()


def read_report(path: Path, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            try:
                return json.loads(path.read_text())
            except ValueError:
                pass  # still being written
        time.sleep(0.05)
    pytest.fail(f"no report at {path}")


def gone(pid: int, timeout: float = 15) -> bool:
    """True once ``pid`` has exited and been reaped (not a zombie)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                time.sleep(0.05)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def child_env(tmp_path: Path, name: str, **extra: str) -> dict[str, str]:
    return {"IMPORTED": "yes", "REPORT": str(tmp_path / f"{name}.json"), **extra}


def test_a_child_gets_its_argv_environment_directory_and_session(server, tmp_path):
    home = tmp_path / "homes" / "trainee-1"  # not there yet: made for the child
    env = child_env(tmp_path, "one", TZ="Asia/Shanghai", SLEEP="30")
    pid = server.fork(
        [sys.executable, "/some/program", "--flag", "value"], env, str(home)
    )
    report = read_report(tmp_path / "one.json")
    try:
        assert report["pid"] == pid
        assert report["argv"] == ["/some/program", "--flag", "value"]
        assert report["env"] == env  # exactly: nothing of the fork server's
        assert report["cwd"] == str(home)
        assert report["sid"] == pid  # a session of its own, as Popen gave it
        assert report["fds"][:3] == [0, 1, 2]
        # 0-2, and the one listing /proc/self/fd: not the fork server's channel.
        assert len(report["fds"]) == 4
        assert report["sigchld_default"] and report["sigint_raises"]
        assert report["imported_at"] == "yes"  # imported before the fork
        assert psutil.Process(pid).ppid() == server.process.pid
    finally:
        os.kill(pid, signal.SIGKILL)
    assert gone(pid), "a killed child is reaped by the kernel, not left a zombie"


def test_a_child_that_exits_is_reaped(server, tmp_path):
    pid = server.fork(["python", "p"], child_env(tmp_path, "two", EXIT="3"), HOME)
    read_report(tmp_path / "two.json")
    assert gone(pid)
    assert server.running()


def test_requests_it_cannot_honour_are_refused_and_it_serves_on(server, tmp_path):
    with pytest.raises(ForkServerError, match="cwd must be an absolute path"):
        server.fork(["python", "p"], child_env(tmp_path, "x"), "relative/home")
    with pytest.raises(ForkServerError, match="argv must be a non-empty list"):
        server.fork([], child_env(tmp_path, "x"), HOME)
    # What the imports were made with is what each child must have.
    with pytest.raises(ForkServerError, match="IMPORTED differs"):
        server.fork(["python", "p"], {"REPORT": "/dev/null"}, HOME)
    with pytest.raises(ForkServerError, match="too large"):
        server.fork(["python", "p"], {"BIG": "x" * (2 << 20)}, HOME)
    with server._lock:  # what no ForkServer sends: not JSON, not an object
        for raw in (b"{not json", b"[1, 2]"):
            server._socket.send(raw)
            assert "bad request" in json.loads(server._socket.recv(4096))["error"]
    assert not (tmp_path / "x.json").exists()
    pid = server.fork(["python", "p"], child_env(tmp_path, "after"), HOME)
    assert read_report(tmp_path / "after.json")["pid"] == pid


def test_requests_from_many_threads_each_get_a_child(server, tmp_path):
    pids: list[int] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        pid = server.fork(
            ["python", "p", str(index)], child_env(tmp_path, f"t{index}"), HOME
        )
        with lock:
            pids.append(pid)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 8
    for index in range(8):
        report = read_report(tmp_path / f"t{index}.json")
        assert report["argv"] == ["p", str(index)]
        assert report["pid"] in pids


def test_it_serves_no_more_when_its_other_end_closes_and_outlives_its_children(
    server, tmp_path
):
    """The hub gone, its children keep running and it stays to reap them (an
    orphan would be a zombie until init reaps it), then exits."""
    pid = server.fork(["python", "p"], child_env(tmp_path, "s", SLEEP="60"), HOME)
    read_report(tmp_path / "s.json")
    process = server.process
    # The end a hub holds, closed as it is when the hub exits or is killed.
    server._socket.close()
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=2)  # its child still runs
    child = psutil.Process(pid)
    assert child.status() != psutil.STATUS_ZOMBIE
    child.terminate()
    assert process.wait(timeout=10) == 0
    assert gone(pid, timeout=1)  # reaped at once, not left to init


def test_a_killed_fork_server_is_replaced_at_the_next_request(server, tmp_path):
    first = server.process.pid
    os.kill(first, signal.SIGKILL)
    server.process.wait(timeout=10)
    pid = server.fork(["python", "p"], child_env(tmp_path, "r"), HOME)
    assert read_report(tmp_path / "r.json")["pid"] == pid
    assert server.process.pid != first
    assert psutil.Process(server.process.pid).environ()[FD_VARIABLE]


def test_one_that_does_not_answer_fails_the_request_then_waits(program, tmp_path):
    server = ForkServer(
        program,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "IMPORTED": "yes"},
        reply_timeout=1,
        retry_after=60,
    )
    server.start()
    stuck = server.process.pid
    os.kill(stuck, signal.SIGSTOP)
    try:
        with pytest.raises(ForkServerError, match="did not answer"):
            server.fork(["python", "p"], child_env(tmp_path, "n"), HOME)
        assert gone(stuck, timeout=15)  # stopped for good, not left behind
        # Not started again for every request meanwhile: the caller starts its own.
        with pytest.raises(ForkServerError, match="trying again in"):
            server.fork(["python", "p"], child_env(tmp_path, "n"), HOME)
        assert server.process is None
        server._failed_at -= 60  # the minute is over
        pid = server.fork(["python", "p"], child_env(tmp_path, "n"), HOME)
        assert read_report(tmp_path / "n.json")["pid"] == pid
    finally:
        with_suppressed_kill(stuck)
        server.stop()


def test_a_program_that_cannot_start_is_an_error_not_a_crash(tmp_path):
    server = ForkServer([str(tmp_path / "missing")], cwd=tmp_path, env={})
    with pytest.raises(ForkServerError, match="could not start"):
        server.fork(["python", "p"], {}, HOME)
    # One that starts and exits at once (an import that fails, say).
    server = ForkServer([sys.executable, "-c", "raise SystemExit(1)"], cwd=tmp_path)
    with pytest.raises(ForkServerError, match="exited"):
        server.fork(["python", "p"], {}, HOME)


def with_suppressed_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_environment_reads_names_every_variable_read_in_the_block(monkeypatch):
    """What the fork server's imports read is what each request must match."""
    monkeypatch.setenv("SET_ONE", "x")
    with environment_reads() as read:
        os.environ.get("SET_ONE")
        assert "UNSET_ONE" not in os.environ
        os.getenv("BY_GETENV")
        os.environb.get(b"AS_BYTES")
        os.path.expanduser("~")
    os.environ.get("AFTER_THE_BLOCK")
    assert read == {"SET_ONE", "UNSET_ONE", "BY_GETENV", "AS_BYTES", "HOME"}
