"""The hub's proxy (labs/proxy.py) forwards many requests at once."""

import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.labs.conftest import free_port

pytestmark = pytest.mark.engine_free

ROOT = Path(__file__).resolve().parents[2]
AT_ONCE = 24  # more than tornado's default of 10


class Backend(ThreadingHTTPServer):
    """Holds each request until ``AT_ONCE`` are in flight (or 20 s pass), and
    records the most it saw at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Held)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.all_here = threading.Event()


class Held(BaseHTTPRequestHandler):
    server: Backend

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most = max(self.server.most, self.server.in_flight)
            if self.server.in_flight >= AT_ONCE:
                self.server.all_here.set()
        self.server.all_here.wait(20)
        with self.server.lock:
            self.server.in_flight -= 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_the_proxy_forwards_more_than_ten_requests_at_once():
    """Started as labs/jupyterhub_config.py starts it (``main(max_clients=...)``),
    the proxy has all 24 requests at the backend together; tornado's default
    client would hold all but 10 back."""
    backend = Backend()
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port, api_port, token = free_port(), free_port(), secrets.token_hex(8)
    proxy = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
            "from labs.proxy import main; main(max_clients=64)",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--api-ip=127.0.0.1",
            f"--api-port={api_port}",
            f"--default-target=http://127.0.0.1:{backend.server_address[1]}",
        ],
        env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(
                    f"http://127.0.0.1:{api_port}/api/routes",
                    headers={"Authorization": f"token {token}"},
                    timeout=2,
                ).raise_for_status()
                break
            except httpx.HTTPError:
                assert proxy.poll() is None, "the proxy exited"
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.2)
        with ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.get(f"http://127.0.0.1:{port}/x", timeout=60),
                    range(AT_ONCE),
                )
            )
        assert [a.status_code for a in answers] == [200] * AT_ONCE
        assert backend.most == AT_ONCE
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
        backend.shutdown()
