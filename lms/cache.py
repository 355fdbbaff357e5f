"""The shared cache on Redis, for which an unreachable Redis is a miss, not an error.

Everything the site keeps in this cache can be lost: pages (``lms.pagecache``),
reader versions, sessions (also in the database: ``cached_db``), throttle counters
and status lists. So while Redis restarts, reads miss, writes are dropped, ``add``
reports success (a lock taken with it is granted) and counters start again:
throttles fail open, signing in works, and no page answers 500. After one failure
the cache does not ask Redis again for ``RETRY_SECONDS``, so a page with many cache
calls does not wait out a timeout for each; the socket timeouts (``OPTIONS`` in
settings) bound the first.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_SECONDS = 1.0


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django's client, with one connection pool and one redis-py client per
    server for the whole process.

    Django keeps a cache object per thread *and per context* (``caches`` is an
    asgiref ``Local``), and each request runs in a context of its own, under ASGI
    and under a WSGI bridge alike: every request got a new cache object, so a new
    connection pool, so new Redis connections, each connecting, saying HELLO and
    reading redis-py's version from the installed package metadata (several ms of
    CPU a request under load). It also makes a new ``redis.Redis`` on every call
    (~0.1-0.3 ms building its response callbacks). redis-py's pool and client are
    safe to share between threads (each command takes a connection of its own), and
    the pool starts afresh in a forked child.
    """

    _shared: dict[tuple, tuple] = {}
    _shared_lock = threading.Lock()

    def _shared_pool(self, write):
        server = self._servers[self._get_connection_pool_index(write)]
        key = (
            server,
            tuple(sorted((k, repr(v)) for k, v in self._pool_options.items())),
        )
        found = self._shared.get(key)
        if found is None:
            with self._shared_lock:
                found = self._shared.get(key)
                if found is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    found = self._shared[key] = (
                        pool,
                        self._client(connection_pool=pool),
                    )
        return found

    def _get_connection_pool(self, write):
        return self._shared_pool(write)[0]

    def get_client(self, key=None, *, write=False):
        return self._shared_pool(write)[1]


class ResilientRedisCache(RedisCache):
    """Django's Redis cache that degrades to no cache while Redis cannot be reached."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
        self._down_until = 0.0

    def _call(self, method, fallback, *args):
        if time.monotonic() < self._down_until:
            return fallback
        try:
            call = method if callable(method) else getattr(super(), method)
            result = call(*args)
        except UNREACHABLE as error:
            if not self._down_until:
                log.warning(
                    "The cache (Redis) is unreachable; going on without: %s", error
                )
            self._down_until = time.monotonic() + RETRY_SECONDS
            return fallback
        if self._down_until:
            log.warning("The cache (Redis) is reachable again.")
            self._down_until = 0.0
        return result

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # True, as if added: a lock taken with add() (allauth's login throttle)
        # is granted while nothing can hold it, so throttles fail open.
        return self._call("add", True, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._call("set", None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        missing = object()
        result = self._call("incr", missing, key, delta, version)
        if result is missing:  # as for a key that is not there: callers start anew
            raise ValueError(f"Key '{key}' not found (the cache is unreachable).")
        return result

    def count(self, key, timeout, version=None) -> int:
        """Add one to the counter ``key``, created with ``timeout`` seconds to live
        if it is not there, and return it: one round trip (a transaction of SET NX
        and INCR), where ``add`` then ``incr`` take three. While Redis is
        unreachable every count is 1, as if each window began anew (fail open)."""
        return self._call(self._count, 1, key, timeout, version)

    def _count(self, key, timeout, version):
        key = self.make_and_validate_key(key, version=version)
        client = self._cache.get_client(key, write=True)
        pipe = client.pipeline(transaction=True)
        pipe.set(key, self._cache._serializer.dumps(0), ex=int(timeout), nx=True)
        pipe.incr(key)
        return pipe.execute()[1]

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        self._call("delete_many", None, keys, version)

    def clear(self):
        return self._call("clear", False)
