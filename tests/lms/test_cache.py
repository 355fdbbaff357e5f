"""The shared cache on Redis: one connection pool and one redis-py client per
server for the whole process, shared by every call, thread and request."""

import contextvars
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from lms.cache import ResilientRedisCache


def test_every_call_shares_one_client_and_threads_may_share_it(private_redis):
    """Calls reuse one redis-py client (Django would make one per call); calls from
    many threads at once through it all land."""
    cache = ResilientRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "lms-test-client"})
    cache.set("hits", 0)

    def bump(_n: int) -> None:
        for _ in range(50):
            cache.incr("hits")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(bump, range(8)))

    assert cache.get("hits") == 400
    assert cache.get_many(["hits"]) == {"hits": 400}
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    cache.delete("hits")


def test_a_cache_object_per_request_still_reuses_the_process_connections(
    private_redis,
):
    """Django gives each request's context a cache object of its own (``caches`` is
    an asgiref Local, and the web server runs each request in a fresh context): 200
    "requests" on 8 threads, each with its own cache object as Django makes them,
    share one pool and one client, and open no more connections than run at once
    (with a pool per cache object each opened its own)."""
    cache = ResilientRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "lms-test-pool"})
    cache.set("page", "cached")
    pool = cache._cache._get_connection_pool(False)
    before = len(pool._available_connections) + len(pool._in_use_connections)
    seen = []

    def request(_n: int) -> None:
        def in_its_context():
            own = ResilientRedisCache(
                settings.REDIS_URL, {"KEY_PREFIX": "lms-test-pool"}
            )
            assert own.get("page") == "cached"
            seen.append((id(own), own._cache.get_client()))

        contextvars.copy_context().run(in_its_context)

    with ThreadPoolExecutor(max_workers=8) as threads:
        list(threads.map(request, range(200)))

    assert len({object_id for object_id, _ in seen}) > 1  # new cache objects
    assert len({id(client) for _, client in seen}) == 1  # one client
    assert seen[0][1].connection_pool is pool
    opened = len(pool._available_connections) + len(pool._in_use_connections)
    assert opened - before <= 8
    cache.delete("page")
