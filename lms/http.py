"""HTTP requests through Django's WSGI handler, on a bounded pool of threads.

Every view and middleware of the site is synchronous. Django's ASGI handler runs
such a stack at a cost: each request gets a thread of its own (unbounded under
load, each then wanting a database connection), and every middleware able to run
both ways is run asynchronously, so each of its hooks is a hop between the event
loop and a thread; with the site's sixteen middleware a request made some twenty
hops. Measured side by side on one uvicorn process (``bench/http_bridge.py``),
``/healthz`` took ~4 ms of server CPU through it and ~1 ms here.

So HTTP goes to Django's WSGI handler instead, run by a2wsgi in a pool of
``WEB_THREADS`` threads per process (a request queues on the event loop while all
are busy), and websockets stay with Channels (``lms.asgi``). What this module adds
to a2wsgi: the request body is read on the event loop before a thread is taken,
so a slow upload holds no thread, and a body sent in chunks without a
``Content-Length`` (which Django's WSGI handler reads as empty) reaches the view
whole. Bodies over ``MEMORY_BYTES`` wait in a temporary file, not in memory.
"""

from __future__ import annotations

import tempfile
from typing import Any

from a2wsgi import WSGIMiddleware

MEMORY_BYTES = 1024 * 1024
CHUNK_BYTES = 256 * 1024


class BufferedWSGI:
    """An ASGI application for HTTP that runs a WSGI application in threads."""

    def __init__(self, wsgi_app, *, threads: int) -> None:
        self.inner = WSGIMiddleware(wsgi_app, workers=threads)

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        body = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES)  # noqa: SIM115
        try:
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # gone before the request was whole: nothing to answer
                chunk = message.get("body", b"")
                body.write(chunk)
                size += len(chunk)
                if not message.get("more_body", False):
                    break
            body.seek(0)
            headers = [
                (name, value)
                for name, value in scope["headers"]
                if name not in (b"content-length", b"transfer-encoding")
            ]
            headers.append((b"content-length", str(size).encode()))
            scope = {**scope, "headers": headers}
            await self.inner(scope, _replay(body, size), send)
        finally:
            body.close()


def _replay(body, size: int):
    """``receive`` for the application: the body read already, then a disconnect
    (which a2wsgi never asks for: it stops reading at the last chunk)."""
    left = size

    async def receive() -> dict[str, Any]:
        nonlocal left
        if left < 0:
            return {"type": "http.disconnect"}
        chunk = body.read(CHUNK_BYTES) if left else b""
        left -= len(chunk)
        more = left > 0
        if not more:
            left = -1
        return {"type": "http.request", "body": chunk, "more_body": more}

    return receive
