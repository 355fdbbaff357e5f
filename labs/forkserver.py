"""A fork server for trainees' lab servers: start them already imported.

A lab server spends most of its start importing Jupyter Server and JupyterLab, the
same modules in every server. The fork server is one process per hub that imports
them once and then, for each server the hub asks for, forks a child that becomes
that server: its own session, working directory, environment and argument list,
as ``subprocess.Popen`` would have given it, without paying for the imports again
(and sharing their memory with the fork server until it is written to).

Both ends live here, standard library only: :class:`ForkServer` is the hub's handle
(``labs/spawner.py``) and :func:`serve` the loop the server program runs
(``labs/trainee-jupyter/jupyterhub-singleuser``) when started with
:data:`FD_VARIABLE` set.

The two talk over a socket pair the hub creates, one datagram a message (JSON): the
hub sends ``{"argv": [...], "env": {...}, "cwd": "..."}``, the fork server answers
``{"pid": N}`` or ``{"error": "..."}``. Nothing else can reach it (there is no
address to connect to), and it stops serving when the hub's end closes (a hub
that stops or is killed), while the lab servers it forked keep running in their
own sessions, as servers started by ``Popen`` do. It exits when the last of them
has: its children are reaped by the kernel as they exit (``SIGCHLD`` ignored), so
a stopped server never lingers as a zombie that a hub, this one or the next,
would take for a running one.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

#: Set in the fork server's environment to the number of its end of the socket pair.
FD_VARIABLE = "SILKROUTE_FORK_SERVER_FD"
MAX_MESSAGE = 1 << 20  # a request's JSON (mostly the environment), bytes


class ForkServerError(RuntimeError):
    """The fork server could not start a process (the caller may start it itself)."""


class ForkServer:
    """The hub's handle on its fork server.

    ``command`` is the program the fork server runs (and its children become);
    :meth:`fork` may be called from several threads: requests go one at a time.
    After a request fails, requests fail at once for ``retry_after`` seconds (a fork
    server that cannot start is not started again for every server meanwhile).
    """

    def __init__(
        self,
        command: list[str],
        *,
        cwd: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        reply_timeout: float = 60,
        retry_after: float = 60,
    ) -> None:
        self.command = list(command)
        self.cwd = str(cwd)
        self.env = dict(os.environ if env is None else env)
        self.reply_timeout = reply_timeout
        self.retry_after = retry_after
        self._failed_at: float | None = None
        self.process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the fork server process (it imports in the background)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        self._close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own program
                self.command,
                env={**self.env, FD_VARIABLE: str(theirs.fileno())},
                cwd=self.cwd,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                # Not in the hub's process group: a Ctrl-C for the hub is not one
                # for the fork server, which leaves when the hub's end closes.
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        log.info("Fork server %s started: %s", self.process.pid, self.command)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str) -> int:
        """Start ``argv`` as a child of the fork server; return its pid.

        Starts the fork server first if it is not running. Raises
        :class:`ForkServerError` when it refuses the request, or cannot answer (then
        a later call starts a new one).
        """
        request = json.dumps({"argv": argv, "env": dict(env), "cwd": cwd}).encode()
        if len(request) > MAX_MESSAGE:
            raise ForkServerError(f"request of {len(request)} bytes is too large")
        with self._lock:
            if self._failed_at is not None:
                wait = self._failed_at + self.retry_after - time.monotonic()
                if wait > 0:
                    raise ForkServerError(f"it failed; trying again in {wait:.0f} s")
            try:
                answer = self._ask(request)
            except ForkServerError:
                self._close()
                self._failed_at = time.monotonic()
                raise
            self._failed_at = None
        if "error" in answer:  # a request it refused: it serves on
            raise ForkServerError(answer["error"])
        return int(answer["pid"])

    def _ask(self, request: bytes) -> dict:
        if not self.running():
            try:
                self._start()
            except OSError as error:  # its program is missing, or not executable
                raise ForkServerError(f"it could not start ({error})") from error
        channel = self._socket
        if channel is None:  # _start() sets it
            raise ForkServerError("it has no channel")
        try:
            channel.settimeout(self.reply_timeout)
            channel.send(request)
            reply = channel.recv(MAX_MESSAGE)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise ForkServerError("it exited") from error
        except OSError as error:  # a timeout
            raise ForkServerError(f"it did not answer ({error})") from error
        if not reply:
            raise ForkServerError("it exited")
        return json.loads(reply)

    def stop(self) -> None:
        """Close the hub's end: the fork server serves no more and exits when the
        servers it forked have (they stay)."""
        with self._lock:
            self._close(wait=False)

    def _close(self, timeout: float = 5, *, wait: bool = True) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.process is not None and not wait:
            self.process = None  # subprocess reaps it when it has exited
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


# --- The fork server's side ----------------------------------------------------------


def serve(
    channel: socket.socket,
    run: Callable[[], object],
    *,
    import_time_env: Iterable[str] = (),
) -> None:
    """Fork a child running ``run()`` for each request on ``channel``, until EOF.

    ``import_time_env`` names environment variables that what was imported read
    when it was imported: a request whose environment gives one of them another
    value is refused (the caller then starts that process the ordinary way).
    """
    imported_with = {name: os.environ.get(name) for name in import_time_env}
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threading.active_count() > 1:  # forking would leave their locks held
        log.warning("fork server has %s threads", threading.active_count())
    # Keep what was imported out of the collector's way: a collection in a child
    # would touch (and so copy) every page the fork server shares with it.
    gc.collect()
    gc.freeze()
    while True:
        try:
            message = channel.recv(MAX_MESSAGE)
        except ConnectionResetError:
            _outlive_children()
            return
        if not message:  # the hub has gone
            _outlive_children()
            return
        try:
            argv, env, cwd = _request(message)
            for name, value in imported_with.items():
                if env.get(name) != value:
                    raise ValueError(f"{name} differs from the fork server's")
        except ValueError as error:
            _send(channel, {"error": f"bad request: {error}"})
            continue
        try:
            pid = os.fork()
        except OSError as error:
            _send(channel, {"error": f"fork failed: {error}"})
            continue
        if pid == 0:
            _become(channel, run, argv, env, cwd)  # never returns
        _send(channel, {"pid": pid})


def _outlive_children() -> None:
    """Wait until every child has exited: while the fork server lives, the kernel
    reaps them as they exit; an orphan would wait for init, a zombie the next hub
    takes for a running server until then. (With SIGCHLD ignored, waitpid returns
    when no child is left.)"""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)


def _request(message: bytes) -> tuple[list[str], dict[str, str], str]:
    try:
        request = json.loads(message)
    except ValueError as error:
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(request, dict):
        raise ValueError("not an object")
    argv, env, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise ValueError("argv must be a non-empty list of strings")
    if not (
        isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
    ):
        raise ValueError("env must map strings to strings")
    if not (isinstance(cwd, str) and os.path.isabs(cwd)):
        raise ValueError("cwd must be an absolute path")
    return argv, env, cwd


def _send(channel: socket.socket, answer: dict) -> None:
    with contextlib.suppress(OSError):  # the hub has gone: the next recv says so
        channel.send(json.dumps(answer).encode())


def _become(
    channel: socket.socket,
    run: Callable[[], object],
    argv: list[str],
    env: dict[str, str],
    cwd: str,
) -> None:
    """In the child: turn into the process the request asked for, run, exit."""
    code = 1
    try:
        channel.close()
        os.setsid()  # its own session, as the hub's Popen(start_new_session=True)
        for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        Path(cwd).mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        sys.argv = argv[1:]  # argv[0] is the interpreter, as Popen was given it
        result = run()
        code = result if isinstance(result, int) else 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (exit_.code is not None)
    except BaseException:  # noqa: BLE001 - the child must not return to the loop
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(int(code))


@contextlib.contextmanager
def environment_reads() -> Iterator[set[str]]:
    """The names of the environment variables read inside the block.

    What a module reads from the environment when imported (a class attribute's
    default, a module constant) is fixed in the fork server for every child:
    :func:`serve` refuses a request whose environment gives one of these another
    value, unless the child sets it again itself. Counts ``os.environ``,
    ``os.environb`` and ``os.getenv`` (``os.path.expanduser`` included).
    """
    names: set[str] = set()
    environ_class = type(os.environ)
    getitem = environ_class.__getitem__

    def recorded(self, key):  # noqa: ANN001, ANN202 - os._Environ's own signature
        names.add(os.fsdecode(key) if isinstance(key, bytes) else key)
        return getitem(self, key)

    environ_class.__getitem__ = recorded
    try:
        yield names
    finally:
        environ_class.__getitem__ = getitem


def channel_from_environment() -> socket.socket | None:
    """The fork server's end of the socket pair, if this process is a fork server."""
    value = os.environ.pop(FD_VARIABLE, None)
    if value is None:
        return None
    return socket.socket(fileno=int(value))
