import contextlib
import subprocess
import sys
import time
from pathlib import Path

from labs.processes import hub_strays_stop


def test_processes_left_in_the_hub_state_dir_are_stopped(tmp_path):
    """A server in its own session, working in the state dir, is found and stopped;
    a process elsewhere is left alone."""
    inside = tmp_path / "homes" / "u1"
    inside.mkdir(parents=True)
    stray = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", "import time; time.sleep(120)"],
        cwd=inside,
        start_new_session=True,
    )
    bystander = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", "import time; time.sleep(120)"],
        cwd=tmp_path.parent,
        start_new_session=True,
    )
    try:
        assert hub_strays_stop(tmp_path, timeout=5) == 1
        assert stray.wait(timeout=10) is not None
        assert bystander.poll() is None
    finally:
        bystander.kill()
        stray.kill()


TIE = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from labs.processes import exec_tied_to_parent; "
    "exec_tied_to_parent(int(sys.argv[1]), sys.argv[2:])"
)


def test_a_service_tied_to_its_parent_ends_when_the_parent_is_killed():
    """labs.processes.exec_tied_to_parent (the idle culler's launcher): the program
    it becomes, in a session of its own as the hub starts services, gets SIGTERM
    when its parent dies, even by SIGKILL."""
    import psutil

    from tests.labs.conftest import ROOT

    tie = TIE.format(root=str(ROOT))
    parent = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', sys.argv[1],"
            " str(os.getpid()), 'sleep', '120'], start_new_session=True)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(120)\n",
            tie,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    service = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.monotonic() + 30
        while "sleep" not in service.cmdline()[0] and time.monotonic() < deadline:
            time.sleep(0.05)  # until it has become the program
        assert service.cmdline() == ["sleep", "120"]
        parent.kill()
        parent.wait(timeout=10)
        psutil.wait_procs([service], timeout=10)
        assert not service.is_running()
    finally:
        parent.kill()
        with contextlib.suppress(psutil.NoSuchProcess):
            service.kill()


def test_a_service_whose_parent_is_already_gone_does_not_start():
    tie = TIE.format(root=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", tie, "1", "sleep", "120"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "its parent 1 has already exited" in done.stderr
