import subprocess
import sys

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
