"""The hub's SQLite database in write-ahead-log mode.

JupyterHub commits after nearly every request (activity, spawns, tokens), and its
event loop waits for each commit. SQLite's default journal writes, syncs and
deletes a journal file per commit (1.2 ms on this machine when idle, far more while
20 servers start and write their files); in WAL mode with ``synchronous=NORMAL`` a
commit is an append to the log (0.03 ms), synced at checkpoints. The database stays
consistent after a crash; a power cut may lose the last commits, which the hub
rebuilds (servers are polled again, trainees sign in again).

``labs/jupyterhub_config.py`` passes :class:`WALConnection` as the ``factory`` of
``sqlite3.connect`` through ``JupyterHub.db_kwargs``.
"""

import sqlite3


class WALConnection(sqlite3.Connection):
    """A SQLite connection that puts its database in WAL mode, synced normally."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA journal_mode=WAL")  # kept in the file
        self.execute("PRAGMA synchronous=NORMAL")  # per connection
