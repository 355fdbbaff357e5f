"""Stop hub-spawned processes that outlived their hub.

Single-user servers and hub-managed services run in their own sessions, so a signal
to the platform's process group does not reach them; the hub stops them when it
shuts down cleanly, and this catches the ones left when it could not.
"""

import contextlib
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

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


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def exec_tied_to_parent(parent: int, argv: list[str]) -> NoReturn:
    """Become ``argv``, which the kernel sends SIGTERM when ``parent`` exits.

    For the hub's services (the idle culler): the hub starts them in sessions of
    their own, and a hub that is killed cannot stop them, so each would outlive it
    and a restarted hub would start another beside it. The request survives the
    exec; a parent already gone before it was made means exiting at once.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG): {os.strerror(error)}")
    if os.getppid() != parent:
        sys.exit(f"{argv[0]}: its parent {parent} has already exited")
    os.execvp(argv[0], argv)  # noqa: S606 - the hub's own service command
