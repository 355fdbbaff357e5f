"""PostgreSQL for the web process: Django's pooled backend, failing fast in an outage.

With a pool (``DATABASE_POOL_SIZE``), a request that finds no connection waits in
the pool's queue for one, up to ``DATABASE_POOL_TIMEOUT``. That is right while
PostgreSQL is merely busy; while it is down, the pool only retries its connection
in the background, with growing delays, and every request would wait out the whole
timeout before answering 503. So the pool here also remembers how its last
attempt to connect went (:class:`WatchedConnection`), and a request waits in short
turns: while the last attempt failed, it tries PostgreSQL once itself (refused at
once when it is stopped, at most ``connect_timeout`` when it is unreachable) and
raises ``OperationalError``, which the site answers with its 503 page, instead of
waiting. Once PostgreSQL answers again, requests wait for the pool as before; the
pool gives up its slow retries after ``reconnect_timeout`` and connects again on
the next request, so recovery takes seconds, not the backoff's minutes.
"""

from __future__ import annotations

import threading
import time

import psycopg
from django.db.backends.postgresql import base
from django.utils.asyncio import async_unsafe
from psycopg import IsolationLevel
from psycopg_pool import PoolTimeout

# How long a request waits for the pool in one turn before it looks at whether
# PostgreSQL is down.
TURN = 1.0


class _Health:
    """What the last attempt to connect found (one per process and database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failed_at: float | None = None
        self.error: str = ""

    def failed(self, error: Exception) -> None:
        with self._lock:
            self.failed_at = time.monotonic()
            self.error = str(error).strip().splitlines()[0] if str(error) else ""

    def succeeded(self) -> None:
        with self._lock:
            self.failed_at = None
            self.error = ""

    @property
    def down(self) -> bool:
        return self.failed_at is not None


HEALTH = _Health()


class WatchedConnection(psycopg.Connection):
    """A connection that tells :data:`HEALTH` whether connecting worked."""

    @classmethod
    def connect(cls, *args, **kwargs):
        try:
            connection = super().connect(*args, **kwargs)
        except psycopg.OperationalError as error:
            HEALTH.failed(error)
            raise
        HEALTH.succeeded()
        return connection


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict, *args, **kwargs):
        pool = settings_dict.get("OPTIONS", {}).get("pool")
        if pool:
            pool = {} if pool is True else dict(pool)
            pool.setdefault("connection_class", WatchedConnection)
            # After this long retrying in the background, the pool stops, and the
            # next request's demand connects at once (not after a long backoff).
            pool.setdefault("reconnect_timeout", 10.0)
            settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "pool": pool}
        super().__init__(settings_dict, *args, **kwargs)

    @async_unsafe
    def get_new_connection(self, conn_params):
        pool = self.pool
        if not pool or "isolation_level" in self.settings_dict["OPTIONS"]:
            return super().get_new_connection(conn_params)
        pool.open()
        deadline = time.monotonic() + pool.timeout
        while True:
            if HEALTH.down:
                self._probe(conn_params)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PoolTimeout(f"no connection within {pool.timeout:.0f} s")
            try:
                connection = pool.getconn(timeout=min(TURN, remaining))
            except PoolTimeout:
                continue
            # As Django's own backend does without an isolation_level option.
            self.isolation_level = IsolationLevel.READ_COMMITTED
            return connection

    def _probe(self, conn_params) -> None:
        """Connect once directly; raise if PostgreSQL still does not answer. Every
        request probes while it is down (refused at once when it is stopped): one
        that gave up on an earlier failure could answer 503 just after PostgreSQL
        came back, while the pool's own retry still waits for its turn."""
        params = {
            **conn_params,
            "connect_timeout": conn_params.get("connect_timeout", 5),
        }
        params.pop("pool", None)
        WatchedConnection.connect(**params).close()
