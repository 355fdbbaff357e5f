"""Stop hub-spawned processes that outlived their hub.

Single-user servers and hub-managed services run in their own sessions, so a signal
to the platform's process group does not reach them; the hub stops them when it
shuts down cleanly, and this catches the ones left when it could not.
"""

import contextlib
import logging
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


def hub_strays_stop(state_dir: Path, *, timeout: float = 10) -> int:
    """Terminate (then kill) processes whose working directory is in ``state_dir``."""
    root = Path(state_dir).resolve()
    strays = []
    for process in psutil.process_iter(["pid", "cwd"]):
        cwd = process.info.get("cwd")
        if cwd and (Path(cwd) == root or root in Path(cwd).parents):
            strays.append(process)
    for process in strays:
        log.warning(
            "Stopping stray lab process %s (%s)", process.pid, process.info["cwd"]
        )
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(strays, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return len(strays)
