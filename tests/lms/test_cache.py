"""The shared cache on Redis: one redis-py client per connection pool, shared by
every call and thread."""

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
