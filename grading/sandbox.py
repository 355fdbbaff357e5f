"""The grading sandbox: where a trainee's code runs while it is autograded.

One grading job = one kernel. On Linux as root (the worker in the demo, CI and the
single-host deployment), the kernel runs:

- as a **separate unprivileged uid** taken from a pool for this job alone (so file
  permissions keep it out of everything the worker owns, and its processes can be
  found and killed by uid afterwards);
- in **new network, PID and mount namespaces** (``unshare``): no network at all, not
  even loopback to the site, the hub, Redis or PostgreSQL; only its own processes
  visible; ``VAR_DIR`` (database, media, keys, hub homes), the lab sources
  (solutions and hidden tests), ``/run`` (local service sockets) and the project's
  ``.env`` are covered by empty mounts, so neither paths nor sockets lead anywhere;
- under **limits**: memory and process count for the whole job by cgroup when the
  memory/pids controllers are writable, and per process by rlimit (address space,
  processes for the uid, file size, open files, no core dumps);
- talking to the grader over **path-based ipc sockets** (they cross network
  namespaces, TCP would not), with the connection file readable by that uid alone.

When the kernel's PID-namespace init exits, the kernel kills every process left in
the namespace; afterwards the job also kills anything still running as its uid and
removes its cgroups. So no background process or fork bomb outlives the job.

A job whose worker process died (killed, out of memory) never closes its sandbox:
each job holds a lock on its folder for its whole life, and every new job first
sweeps the folders nobody holds, with their cgroups and processes. The trainee's
notebook and the lab's source with solutions and hidden tests do not stay on disk.

Elsewhere (a developer's machine without root), the sandbox degrades to rlimits and
a process-group kill, and says so in the log: fine for trying the platform, not a
security boundary. In Kubernetes the deployment adds a pod per grading worker with a
deny-all NetworkPolicy and memory/CPU limits (see ``deploy/``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from django.conf import settings
from jupyter_client.manager import AsyncKernelManager

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108 (hidden, not used)


class SandboxError(Exception):
    """The sandbox could not be set up: an infrastructure problem, not the trainee's."""


def strict_available() -> bool:
    """Root, with the util-linux tools the strict sandbox needs."""
    return os.geteuid() == 0 and all(
        shutil.which(tool) for tool in ("unshare", "setpriv", "prlimit", "mount")
    )


def mode() -> str:
    """``strict`` or ``rlimits``, from ``GRADING_SANDBOX`` (``auto`` picks)."""
    wanted = settings.GRADING_SANDBOX
    if wanted == "auto":
        return "strict" if strict_available() else "rlimits"
    if wanted == "strict" and not strict_available():
        raise SandboxError(
            "GRADING_SANDBOX=strict needs root and unshare, setpriv, prlimit, mount."
        )
    return wanted


def work_root() -> Path:
    """Parent of every job folder: outside ``VAR_DIR``, which the kernel cannot see."""
    root = Path(settings.GRADING_WORK_DIR)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # others may pass through to their own job, never list it
    return root


# The uid pool is the machine's, whatever GRADING_WORK_DIR each worker uses: its
# locks live in one place for all of them (root's /run), so two workers with
# different work folders never take, and kill the processes of, the same uid.
UID_LOCK_DIR = Path("/run/silkroute-grading-uids")


def uid_lock_dir() -> Path:
    """Where the uid locks are: ``UID_LOCK_DIR``, or (a read-only /run, as in a
    container, where the pool is the container's own) under the work folder."""
    for folder in (UID_LOCK_DIR, work_root() / "uids"):
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise SandboxError("No writable folder for the grading uid locks.")


@dataclass
class Sandbox:
    """One grading job's isolation: its folder, uid, limits and cleanup."""

    job_dir: Path
    mode: str
    uid: int | None = None
    _lock_fd: int | None = None
    _dir_fd: int | None = None  # held open and locked: "this job is alive"
    cgroups: list[Path] = field(default_factory=list)
    kernel_pids: list[int] = field(default_factory=list)  # each leads its session

    # -- set-up ------------------------------------------------------------------

    @classmethod
    def open(cls, *, name: str) -> Sandbox:
        orphans_sweep()
        while True:
            job_dir = work_root() / f"{name}-{secrets.token_hex(8)}"
            job_dir.mkdir(mode=0o711)
            dir_fd = _dir_lock(job_dir)
            if dir_fd is not None:
                break
            # Another job's sweep saw it before it was locked: that sweep removes it.
        box = cls(job_dir=job_dir, mode=mode(), _dir_fd=dir_fd)
        if box.mode == "strict":
            box._uid_take()
            box._cgroups_create()
        for sub in ("home", "ipc"):
            path = job_dir / sub
            path.mkdir(mode=0o700)
            if box.uid is not None:
                os.chown(path, box.uid, box.uid)
        return box

    def _uid_take(self) -> None:
        """Hold an exclusive lock on one uid of the pool for the whole job."""
        locks = uid_lock_dir()
        base, size = settings.GRADING_UID_BASE, settings.GRADING_UID_COUNT
        for uid in range(base, base + size):
            fd = os.open(locks / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._lock_fd = uid, fd
            _kill_uid(uid)  # leftovers of a job that died with its worker
            return
        raise SandboxError(f"All {size} grading uids are busy.")

    def _cgroups_create(self) -> None:
        limits = {
            "memory": {"memory.limit_in_bytes": settings.GRADING_MEMORY_MB << 20},
            "pids": {"pids.max": settings.GRADING_MAX_PROCESSES},
        }
        for controller, values in limits.items():
            parent = CGROUP_ROOT / controller / "silkroute-grading"
            path = parent / self.job_dir.name
            try:
                path.mkdir(parents=True, exist_ok=True)
                for name, value in values.items():
                    (path / name).write_text(str(value))
                if controller == "memory":
                    swap = path / "memory.memsw.limit_in_bytes"
                    if swap.exists():
                        swap.write_text(str(settings.GRADING_MEMORY_MB << 20))
            except OSError as error:
                log.info(
                    "No %s cgroup for grading (%s); rlimits only.", controller, error
                )
                _rmdir(path)
                continue
            self.cgroups.append(path)

    def workdir_share(self, path: Path) -> None:
        """Let the kernel read (not write) ``path`` and the files in it.

        The folder stays root's: the kernel can read the data files but cannot
        plant links where the grader later writes the graded notebook.
        """
        if self.uid is None:
            return
        for folder, dirs, files in os.walk(path):
            os.chown(folder, 0, self.uid)
            os.chmod(folder, 0o750)  # noqa: S103 (group = this job's uid alone)
            for name in files:
                file = Path(folder) / name
                os.chown(file, 0, self.uid)
                # the notebook holds the restored hidden tests: root's alone
                os.chmod(file, 0o600 if name.endswith(".ipynb") else 0o640)
            for name in dirs:
                os.chown(Path(folder) / name, 0, self.uid)

    # -- the kernel --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """A clean environment: nothing of the worker's (no secrets, no URLs)."""
        bin_dir = str(Path(sys.executable).parent)
        return {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.job_dir / "home"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(self.job_dir / "home"),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "MALLOC_ARENA_MAX": "2",  # fewer address-space reservations per thread
            "JPY_PARENT_PID": "",
        }

    def _rlimit_args(self) -> list[str]:
        memory = settings.GRADING_MEMORY_MB << 20
        if any(group.parent.parent.name == "memory" for group in self.cgroups):
            # The cgroup bounds what is really used; address space also counts
            # reservations (thread stacks, malloc arenas), so give it room.
            memory = max(memory * 4, memory + (2048 << 20))
        # RLIMIT_NPROC counts every process of the uid: only meaningful for a job uid.
        nproc = [f"--nproc={settings.GRADING_MAX_PROCESSES}"] if self.uid else []
        return [
            "prlimit",
            f"--as={memory}",
            *nproc,
            f"--fsize={settings.GRADING_MAX_FILE_MB << 20}",
            "--nofile=256",
            "--core=0",
            "--",
        ]

    def _hidden(self) -> tuple[list[Path], list[Path]]:
        """Folders the kernel sees empty, and files it sees as /dev/null.

        The whole project folder goes (the lab sources, ``.git`` with their history,
        ``.env``, ``var/``), as do the site's state wherever it is configured, local
        service sockets (``/run``) and the shared scratch folders, so nothing one
        job leaves in ``/tmp`` is there for the next job with the same uid.
        """
        folders = [
            settings.BASE_DIR,
            settings.VAR_DIR,
            settings.LABS_SOURCE_DIR,
            settings.MEDIA_ROOT,
            getattr(settings, "HUB_STATE_DIR", settings.VAR_DIR),
            "/run",
            "/root",
            "/home",
            *SCRATCH,
        ]
        files = [Path(settings.BASE_DIR) / ".env"]
        for database in settings.DATABASES.values():
            if "sqlite" in database.get("ENGINE", ""):
                for name in (
                    database.get("NAME"),
                    database.get("TEST", {}).get("NAME"),
                ):
                    if name and str(name) != ":memory:":
                        files += [Path(f"{name}{end}") for end in ("", "-wal", "-shm")]
        return [Path(f).resolve() for f in folders], [f.resolve() for f in files]

    def _mount_script(self) -> list[str]:
        """Shell lines run as root in the new mount namespace, before dropping to
        the job's uid: empty the hidden folders, keeping the interpreter (read-only)
        and the job's own folder where they were."""
        q = shlex.quote
        folders, files = self._hidden()

        def covered(path: Path, by: list[Path]) -> bool:
            return any(path != f and path.is_relative_to(f) for f in by)

        keep = [
            (Path(p).resolve(), read_only)
            for p, read_only in (
                (sys.base_prefix, True),
                (sys.prefix, True),
                (self.job_dir, False),
            )
        ]
        kept = dict(keep)
        keep = [
            (path, read_only)
            for path, read_only in kept.items()
            if any(path.is_relative_to(f) for f in folders)
            and not covered(path, list(kept))
        ]
        # /run is hidden first: its new empty tmpfs holds the kept folders meanwhile.
        lines = ["set -e", "mount -t tmpfs -o size=1m,mode=0755 hidden /run"]
        for number, (path, read_only) in enumerate(keep):
            lines += [
                f"mkdir /run/keep{number}",
                f"mount --rbind {q(str(path))} /run/keep{number}",
            ]
            if read_only:
                lines.append(f"mount -o remount,bind,ro /run/keep{number}")
        for folder in folders:
            if folder == Path("/run") or covered(folder, folders):
                continue
            if not folder.is_dir():
                continue
            scratch = str(folder) in SCRATCH
            options = "size=64m,mode=1777" if scratch else "size=16k,mode=0755"
            lines.append(f"mount -t tmpfs -o {options} hidden {q(str(folder))}")
        for number, (path, _read_only) in enumerate(keep):
            lines += [
                f"mkdir -p {q(str(path))}",
                f"mount --move /run/keep{number} {q(str(path))}",
            ]
        for file in files:
            if file.is_file() and not any(file.is_relative_to(f) for f in folders):
                lines.append(f"mount --bind /dev/null {q(str(file))}")
        lines.append('exec "$@"')
        return lines

    def wrap(self, command: list[str]) -> list[str]:
        """The kernel command, run inside the sandbox."""
        if self.mode != "strict":
            return (self._rlimit_args() if shutil.which("prlimit") else []) + command
        lines = self._mount_script()
        inner = [
            *self._rlimit_args(),
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            *command,
        ]
        enter = "".join(
            f"echo $$ > {shlex.quote(str(group / 'cgroup.procs'))}; "
            for group in self.cgroups
        )
        return [
            "sh",
            "-c",
            enter + 'exec "$@"',
            "silkroute-sandbox",
            "unshare",
            "--net",
            "--pid",
            "--mount",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
            "sh",
            "-c",
            "\n".join(lines),
            "silkroute-sandbox",
            *inner,
        ]

    def connection_file_hand_over(self, path: str) -> None:
        if self.uid is not None and path and os.path.exists(path):
            os.chown(path, self.uid, self.uid)
            os.chmod(path, 0o600)

    # -- tear-down ---------------------------------------------------------------

    def kill_processes(self) -> None:
        """SIGKILL everything this job runs: its uid's processes, its cgroups'
        members and (without a uid) the kernel's process group. Safe to call from
        another thread, and more than once."""
        if self.uid is not None:
            _kill_uid(self.uid)
        for group in self.cgroups:
            _cgroup_kill(group)
        if self.uid is None:  # a process group id is not reused while it has members
            for pid in self.kernel_pids:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill whatever the job left running, then remove its folder and uid lock."""
        self.kill_processes()
        for group in self.cgroups:
            _rmdir(group)
        shutil.rmtree(self.job_dir, ignore_errors=True)
        for name in ("_lock_fd", "_dir_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dir_lock(path: Path) -> int | None:
    """Lock ``path`` for as long as this process keeps the returned descriptor
    open; the kernel lets go when the process dies, however it dies."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def orphans_sweep() -> list[Path]:
    """Remove the job folders (and cgroups) of gradings whose process died: those
    no live job holds locked. Their processes are killed first. Returns what went.
    """
    root = work_root()
    gone = []
    for folder in root.iterdir():
        if folder.name == "uids" or not folder.is_dir():
            continue
        try:
            fd = _dir_lock(folder)
        except OSError:  # removed meanwhile by its own job or another sweep
            continue
        if fd is None:  # a live job's
            continue
        try:
            _kill_working_in(folder)
            for group in _job_cgroups(folder.name):
                _cgroup_kill(group)
                _rmdir(group)
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
        finally:
            os.close(fd)
    # cgroups outlive their folder only if the sweep above was itself interrupted
    for group in _job_cgroups("*"):
        if not (root / group.name).exists():
            _cgroup_kill(group)
            _rmdir(group)
    if gone:
        log.warning("Removed %d grading folders left by dead workers.", len(gone))
    return gone


def _kill_working_in(folder: Path) -> None:
    """SIGKILL the processes whose working directory is in ``folder``: a dead job's
    kernel (the only way to find it without a uid or cgroup, in rlimits mode)."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"]
        if cwd and Path(cwd).is_relative_to(folder):
            with contextlib.suppress(psutil.Error):
                process.kill()
                found.append(process)
    psutil.wait_procs(found, timeout=5)


def _job_cgroups(name: str) -> list[Path]:
    return [
        group
        for group in CGROUP_ROOT.glob(f"*/silkroute-grading/{name}")
        if group.is_dir()
    ]


def _kill_uid(uid: int) -> int:
    """SIGKILL every process of ``uid`` until none is left; how many were killed."""
    killed = 0
    for _ in range(50):
        # A zombie is already dead (it only waits for its parent to reap it):
        # waiting for it cost ~1.2 s per grading.
        found = [
            p
            for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"]
            and uid in p.info["uids"]
            and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not found:
            return killed
        for process in found:
            try:
                process.send_signal(signal.SIGKILL)
                killed += 1
            except psutil.Error:
                pass
        time.sleep(0.02)
    log.error("Processes of grading uid %s would not die.", uid)
    return killed


def _cgroup_kill(group: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


# The job being graded in this process. A worker process grades one submission at a
# time, and nbclient creates the kernel manager itself, so this is how it finds it.
current: Sandbox | None = None


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel inside ``current``'s sandbox."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        box = current
        if box is not None:
            self.transport = "ipc"
            self.ip = str(box.job_dir / "ipc" / "kernel")
            self.connection_file = str(box.job_dir / "ipc" / "kernel.json")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        box = current
        if box is None:
            raise SandboxError("No grading sandbox is open in this process.")
        box.connection_file_hand_over(self.connection_file)
        kw["env"] = box.env()
        kw["start_new_session"] = True
        await super()._async_launch_kernel(box.wrap(kernel_cmd), **kw)
        pid = getattr(self.provisioner, "pid", None)
        if pid:
            box.kernel_pids.append(pid)
