"""Pages, in-process: what one cached hit costs, against the static file.

Run from the project root, in the environment of a seeded site (``seed_demo``,
``collectstatic``, a Redis cache in ``REDIS_URL``; ``DEBUG=false`` as in
production)::

    .venv/bin/python bench/pages_profile.py [--requests 300] [--profile NAME]

For the static file (WhiteNoise), the anonymous lesson and ``graduate``'s lesson
(each answered from the page cache after a few warming requests) it prints the
cache commands and database queries of one request, and the mean time of
``--requests`` sequential requests through Django's WSGI handler and through its
ASGI entry point (no server, no network: the ASGI figure includes the hops between
the event loop and the thread that runs the sync middleware). ``--profile``
prints cProfile's cumulative listing of that variant through the WSGI handler
(cProfile sees one thread only, so not through ASGI).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSON = "/en/cross-border-ecommerce/customs-duties-and-tax/duties-vat-and-landed-cost/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--lesson", default=LESSON)
    parser.add_argument("--profile", help="variant to profile", default="")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
    import django

    django.setup()
    import redis.client
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test import Client

    from lms.accounts.models import User
    from lms.asgi import http_app

    commands: Counter[str] = Counter()
    execute = redis.client.Redis.execute_command

    def counted(self, *command, **options):
        commands[command[0]] += 1
        return execute(self, *command, **options)

    redis.client.Redis.execute_command = counted
    queries: list[str] = []

    def noted(run, sql, params, many, context):
        queries.append(sql)
        return run(sql, params, many, context)

    connection.execute_wrapper(noted)

    client = Client()
    client.force_login(User.objects.get(username="graduate"))
    client.get(args.lesson)  # the CSRF cookie a first page gives
    cookies = {name: client.cookies[name].value for name in ("sessionid", "csrftoken")}
    signed_in = "; ".join(f"{name}={value}" for name, value in cookies.items())
    variants = {
        "static": (staticfiles_storage.url("lms/site.css"), ""),
        "lesson anonymous": (args.lesson, ""),
        "lesson signed in": (args.lesson, signed_in),
    }
    wsgi = WSGIHandler()

    def wsgi_get(path: str, cookie: str) -> tuple[str, dict, bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        if cookie:
            environ["HTTP_COOKIE"] = cookie
        answer: dict = {}

        def start_response(status, headers):
            answer.update(status=status, headers=dict(headers))

        body = b"".join(wsgi(environ, start_response))
        return answer["status"], answer["headers"], body

    async def asgi_get(path: str, cookie: str) -> None:
        headers = [(b"host", b"127.0.0.1")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        received = False

        async def receive():
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)  # no disconnect while the answer is sent

        async def send(message):
            pass

        await http_app(scope, receive, send)

    async def asgi_run(path: str, cookie: str) -> None:
        for _ in range(args.requests):
            await asgi_get(path, cookie)

    for name, (path, cookie) in variants.items():
        for _ in range(3):
            status, headers, body = wsgi_get(path, cookie)
        commands.clear()
        queries.clear()
        wsgi_get(path, cookie)
        print(  # noqa: T201
            f"{name}: {status}, page cache {headers.get('X-Page-Cache', '-')}, "
            f"{len(body)} bytes; per request: cache {dict(commands)}, "
            f"{len(queries)} queries"
        )
        started = time.perf_counter()
        for _ in range(args.requests):
            wsgi_get(path, cookie)
        through_wsgi = (time.perf_counter() - started) / args.requests
        asyncio.run(asgi_run(path, cookie))  # warm the ASGI path
        started = time.perf_counter()
        asyncio.run(asgi_run(path, cookie))
        through_asgi = (time.perf_counter() - started) / args.requests
        print(  # noqa: T201
            f"  {1000 * through_wsgi:.2f} ms a request through WSGI, "
            f"{1000 * through_asgi:.2f} ms through ASGI"
        )
        if name == args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                wsgi_get(path, cookie)
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
