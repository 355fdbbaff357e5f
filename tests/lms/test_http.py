"""HTTP through Django's WSGI handler on a bounded pool of threads (lms/http.py).

The bridge is driven as a server drives it: a scope, the body in messages, the
answer collected from what it sends. (The site's entry point with a chunked body:
tests/grading/credentials/test_endpoints.py; every browser test goes through it
under uvicorn.)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

from lms.http import MEMORY_BYTES, BufferedWSGI


def http_scope(method="POST", path="/", headers=(), *, host="127.0.0.1"):
    """An HTTP scope as a server gives one."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": (host, 80),
    }


async def http_call(app, scope, chunks, *, disconnect_after=None):
    """Send ``chunks`` as the body (then, if asked, a disconnect instead of the
    rest); return (status, headers, body) or None when nothing was answered."""
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect_after is not None:
        messages = messages[:disconnect_after] + [{"type": "http.disconnect"}]
    queue = list(messages)

    async def receive():
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    if not sent:
        return None
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def _echo(environ, start_response):
    """A WSGI application that answers what it read, as Django reads it: at most
    CONTENT_LENGTH bytes."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    answer = json.dumps(
        {
            "length": length,
            "read": len(body),
            "head": body[:20].decode("latin1"),
            "tail": body[-20:].decode("latin1"),
            "chunked": environ.get("HTTP_TRANSFER_ENCODING"),
            "thread": threading.current_thread().name,
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [answer]


def test_a_body_sent_in_chunks_without_a_length_reaches_the_application_whole():
    app = BufferedWSGI(_echo, threads=2)
    chunks = [b"first-", b"second-", b"third"]
    scope = http_scope(headers=[(b"transfer-encoding", b"chunked")])
    status, _headers, body = asyncio.run(http_call(app, scope, chunks))
    assert status == 200
    seen = json.loads(body)
    assert seen["length"] == seen["read"] == len(b"first-second-third")
    assert seen["head"] == "first-second-third"
    assert seen["chunked"] is None  # the body is whole now, with its length


def test_a_body_larger_than_memory_is_read_whole_and_in_order():
    app = BufferedWSGI(_echo, threads=2)
    size = MEMORY_BYTES * 3 + 17  # spooled to a file
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    chunks = [payload[i : i + 65536] for i in range(0, len(payload), 65536)]
    scope = http_scope(headers=[(b"content-length", str(len(payload)).encode())])
    status, _headers, body = asyncio.run(http_call(app, scope, chunks))
    assert status == 200
    seen = json.loads(body)
    assert seen["length"] == seen["read"] == len(payload)
    assert seen["head"] == payload[:20].decode("latin1")
    assert seen["tail"] == payload[-20:].decode("latin1")


def test_a_client_gone_before_its_body_was_whole_takes_no_thread():
    called = []

    def app_wsgi(environ, start_response):  # pragma: no cover - must not run
        called.append(True)
        start_response("200 OK", [])
        return [b""]

    app = BufferedWSGI(app_wsgi, threads=1)
    scope = http_scope(headers=[(b"content-length", b"100")])
    answer = asyncio.run(
        http_call(app, scope, [b"a" * 10, b"b" * 90], disconnect_after=1)
    )
    assert answer is None
    assert called == []


def test_requests_run_on_at_most_the_given_threads_and_all_are_answered():
    """Twelve requests at once on three threads: every one answered, by three
    threads at most, never more than three at a time."""
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def slow(environ, start_response):
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.05)
        with lock:
            running["now"] -= 1
        return _echo(environ, start_response)

    app = BufferedWSGI(slow, threads=3)

    async def all_at_once():
        return await asyncio.gather(
            *(http_call(app, http_scope(method="GET"), [b""]) for _ in range(12))
        )

    answers = asyncio.run(all_at_once())
    assert [a[0] for a in answers] == [200] * 12
    threads = {json.loads(a[2])["thread"] for a in answers}
    assert 1 <= len(threads) <= 3
    assert running["most"] <= 3
