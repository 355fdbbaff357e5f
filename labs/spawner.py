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
import shlex

from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Dict, List, Unicode

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

    async def start(self):
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
