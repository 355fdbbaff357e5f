"""The hub's spawner for local lab servers: forked from an imported fork server.

Loaded by ``labs/jupyterhub_config.py`` into the hub process (JupyterHub and the
standard library only). It is ``SimpleLocalProcessSpawner`` (one process per
trainee, homes under the hub's state) except that a server whose command is the
fork server's is forked by it (``labs/forkserver.py``) instead of started by
``Popen``: the hub then knows it by its pid, as it knows a server after a restart,
and signals, polls and stops it the same way. Anything else, or a fork server that
fails, falls back to ``Popen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shlex
from collections.abc import Awaitable, Callable, Iterator

from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Dict, Float, List, Unicode

from labs.forkserver import ForkServer, ForkServerError

_servers: dict[tuple[str, ...], ForkServer] = {}


def fork_server(command: list[str], cwd: str, env: dict[str, str]) -> ForkServer:
    """The hub's fork server for ``command``, started the first time it is asked.

    ``env`` is its environment: not the hub's, whose secrets the servers it forks
    would otherwise carry in their initial environment (``/proc/<pid>/environ``).
    """
    key = tuple(command)
    if key not in _servers:
        _servers[key] = ForkServer(command, cwd=cwd, env=env)
        _servers[key].start()
    return _servers[key]


def listen_pauses(
    quick: float = 0.005, quick_tries: int = 50, longest: float = 0.1
) -> Iterator[float]:
    """The pauses between tries at a server's port: ``quick`` for the first
    ``quick_tries`` (a forked server listens after 50-100 ms on a quiet machine,
    and a try that is refused costs the hub about 60 us of CPU), then growing by
    half each time up to ``longest`` (a busy machine, or a server started from
    scratch)."""
    yield from itertools.repeat(quick, quick_tries)
    pause = quick
    while True:
        pause = min(pause * 1.5, longest)
        yield pause


async def until_listening(
    host: str,
    port: int,
    *,
    alive: Callable[[], Awaitable[bool]],
    within: float,
) -> bool:
    """Whether ``host:port`` accepts connections within ``within`` seconds, tried
    after each of ``listen_pauses()``; False at once when ``alive()`` says it has
    exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pauses = listen_pauses()
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            pass
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        pause = next(pauses)
        if not await alive() or loop.time() + pause > deadline:
            return False
        await asyncio.sleep(pause)


class LabSpawner(SimpleLocalProcessSpawner):
    fork_server_cmd = List(
        Unicode(),
        config=True,
        help="""A program that serves forks (labs/forkserver.py) when asked to.

        Servers whose command (``cmd``) is this one are forked from it; empty: none.
        """,
    )
    fork_server_cwd = Unicode(
        ".", config=True, help="The fork server's working directory."
    )
    fork_server_env = Dict(
        Unicode(),
        config=True,
        help="The fork server's environment (each server it forks gets its own).",
    )
    listen_wait = Float(
        10.0,
        config=True,
        help="""Seconds ``start()`` waits for the server to listen before it returns.

        The hub then finds it answering on its first check, instead of at the end
        of one of the growing random pauses between its checks (up to 0.2, 0.4,
        0.8 s...), which added up to half a second to a launch. A server not
        listening by then is left to the hub's own wait (``http_timeout``).
        """,
    )

    async def start(self):
        host, port = await self._start()
        await until_listening(
            "127.0.0.1" if host in ("", "0.0.0.0") else host,  # noqa: S104
            port,
            alive=self._alive,
            within=self.listen_wait,
        )
        return (host, port)

    async def _alive(self) -> bool:
        return await self.poll() is None

    async def _start(self) -> tuple[str, int]:
        if (
            not self.fork_server_cmd
            or list(self.cmd) != list(self.fork_server_cmd)
            or self.shell_cmd
            or self.popen_kwargs
        ):
            return await super().start()
        if self.port == 0:
            self.port = random_port()
        argv = [*self.cmd, *self.get_args()]
        env = self.get_env()
        server = fork_server(
            self.fork_server_cmd, self.fork_server_cwd, self.fork_server_env
        )
        self.log.info("Forking %s", shlex.join(argv))
        try:
            self.pid = await asyncio.to_thread(server.fork, argv, env, self.home_dir)
        except ForkServerError as error:
            self.log.warning(
                "Fork server did not fork %s's server (%s): starting a process",
                self.user.name,
                error,
            )
            return await super().start()
        self.proc = None
        return (self.ip or "127.0.0.1", self.port)
