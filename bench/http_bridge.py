"""HTTP on one web process: Django's ASGI handler against the site's WSGI bridge.

Run from the project root, under the bench lock, in the environment of a seeded
site (``seed_demo``, ``collectstatic``, ``DEBUG=false``, the production settings
``bench/production.py`` sets: PostgreSQL, Redis)::

    flock /tmp/silkroute-bench.lock .venv/bin/python bench/http_bridge.py \\
        [--seconds 6] [--clients 16] [--rounds 2]

For each variant one uvicorn process (one worker, uvloop, httptools) serves the
site, and for each kind of request ``--clients`` connections ask again as soon as
they are answered (closed loop) for ``--seconds``: requests answered per second,
and the server's CPU per request (psutil). Variants, in turn in each round:

- ``django-asgi``: HTTP through Django's own ASGI handler (``get_asgi_application``,
  as ``lms.asgi`` did before), websockets through Channels;
- ``bridge``: the site's entry point, ``lms.asgi:application`` (HTTP through
  Django's WSGI handler on ``WEB_THREADS`` threads, ``lms.http``).

Both variants share everything else (one Redis pool per process, ``lms/cache.py``).
Kinds: ``/healthz``; a static file; ``POST /api/v1/verify`` with an issued
credential; ``/verify/<id>``; a cached lesson signed in as ``graduate``; the
programme page. The verification rate limit is lifted for the run. Results:
``bench/results/http_bridge.json`` and ``.md``; each figure is also given as a
ratio of the bridge to Django's handler in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LESSON = "/en/cross-border-ecommerce/customs-duties-and-tax/duties-vat-and-landed-cost/"
VARIANTS = ("django-asgi", "bridge")


def app_variant():
    """uvicorn's factory (``--factory``): the application of ``BENCH_VARIANT``."""
    if os.environ["BENCH_VARIANT"] == "bridge":
        from lms.asgi import application

        return application
    from channels.routing import ProtocolTypeRouter
    from django.core.asgi import get_asgi_application

    from lms.asgi import application

    return ProtocolTypeRouter(
        {
            "http": get_asgi_application(),
            "websocket": application.application_mapping["websocket"],
        }
    )


def requests_make() -> dict[str, list[tuple]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.test import Client

    from grading.credentials.models import Certificate
    from lms.accounts.models import User

    certificate = Certificate.objects.filter(revoked_at__isnull=True).first()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="graduate"))
    client.get(LESSON)
    cookie = "; ".join(
        f"{name}={client.cookies[name].value}"
        for name in ("sessionid", "csrftoken")
        if name in client.cookies
    )
    return {
        "healthz": [("GET", "/healthz", None, {})],
        "static": [("GET", staticfiles_storage.url("lms/site.css"), None, {})],
        "verify API": [
            (
                "POST",
                "/api/v1/verify",
                certificate.jwt,
                {"Content-Type": "application/vc+jwt"},
            )
        ],
        "verify page": [("GET", f"/verify/{certificate.pk}", None, {})],
        "lesson signed in": [("GET", LESSON, None, {"Cookie": cookie})],
        "programme": [("GET", "/en/cross-border-ecommerce/", None, {"Cookie": cookie})],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_start(variant: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "BENCH_VARIANT": variant, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # noqa: S603
        [
            str(Path(sys.executable).parent / "uvicorn"),
            "http_bridge:app_variant",
            "--factory",
            "--app-dir",
            str(ROOT / "bench"),
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


async def _ready(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not answer /healthz")


async def closed_loop(base: str, requests: list[tuple], seconds: float, clients: int):
    import aiohttp

    answered = 0
    failed: dict[int, int] = {}
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(n: int) -> None:
            nonlocal answered
            while time.perf_counter() < stop:
                method, path, body, headers = requests[n % len(requests)]
                async with session.request(
                    method, f"{base}{path}", data=body, headers=headers
                ) as answer:
                    await answer.read()
                    if answer.status >= 400:
                        failed[answer.status] = failed.get(answer.status, 0) + 1
                    answered += 1

        await asyncio.gather(*(client(n) for n in range(clients)))
    return answered, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    import psutil

    os.environ["VERIFY_RATE_LIMIT"] = "100000000/m"
    kinds = requests_make()
    load_before = os.getloadavg()
    runs: dict[str, dict[str, list[dict]]] = {v: {} for v in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            log = Path(tempfile.gettempdir()) / f"http_bridge-{variant}.log"
            server = server_start(variant, port, log)
            try:
                asyncio.run(_ready(base))
                process = psutil.Process(server.pid)
                asyncio.run(closed_loop(base, kinds["healthz"], 2, args.clients))
                for name, requests in kinds.items():
                    cpu = sum(process.cpu_times()[:2])
                    started = time.perf_counter()
                    answered, failed = asyncio.run(
                        closed_loop(base, requests, args.seconds, args.clients)
                    )
                    elapsed = time.perf_counter() - started
                    cpu = sum(process.cpu_times()[:2]) - cpu
                    figure = {
                        "per_second": answered / elapsed,
                        "cpu_ms": 1000 * cpu / max(answered, 1),
                        "failed": failed,
                    }
                    runs[variant].setdefault(name, []).append(figure)
                    print(  # noqa: T201
                        f"round {round_ + 1} {variant:12s} {name:17s} "
                        f"{figure['per_second']:7.1f}/s "
                        f"{figure['cpu_ms']:6.2f} ms CPU a request {failed or ''}",
                        flush=True,
                    )
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)

    summary = {}
    for name in kinds:
        before = runs["django-asgi"][name]
        after = runs["bridge"][name]
        summary[name] = {
            variant: {
                "per_second": statistics.median(
                    f["per_second"] for f in runs[variant][name]
                ),
                "cpu_ms": statistics.median(f["cpu_ms"] for f in runs[variant][name]),
                "failed": sum(sum(f["failed"].values()) for f in runs[variant][name]),
            }
            for variant in VARIANTS
        }
        summary[name]["throughput_ratio"] = statistics.median(
            a["per_second"] / b["per_second"]
            for a, b in zip(after, before, strict=True)
        )
        summary[name]["cpu_ratio"] = statistics.median(
            a["cpu_ms"] / b["cpu_ms"] for a, b in zip(after, before, strict=True)
        )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "settings": {
            "seconds": args.seconds,
            "clients": args.clients,
            "rounds": args.rounds,
            "web_threads": os.environ.get("WEB_THREADS", "8"),
            "database": os.environ.get("DATABASE_URL", "sqlite"),
            "redis": os.environ.get("REDIS_URL", "private"),
        },
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "http_bridge.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# HTTP on one web process: Django's ASGI handler against the WSGI bridge",
        "",
        f"{result['when']}, {result['cpus']} CPUs, load {result['load_before']} "
        f"before; one uvicorn process, {args.clients} clients in a closed loop, "
        f"{args.seconds:g} s per kind, {args.rounds} rounds (medians); "
        f"WEB_THREADS {result['settings']['web_threads']}.",
        "",
        "| kind | Django ASGI /s | bridge /s | bridge ÷ ASGI | "
        "server CPU ms a request: ASGI | bridge | bridge ÷ ASGI |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in summary.items():
        a, b = figures["django-asgi"], figures["bridge"]
        lines.append(
            f"| {name} | {a['per_second']:.1f} | {b['per_second']:.1f} | "
            f"**{figures['throughput_ratio']:.2f}** | {a['cpu_ms']:.2f} | "
            f"{b['cpu_ms']:.2f} | {figures['cpu_ratio']:.2f} |"
        )
    failures = {
        f"{name} ({variant})": figures[variant]["failed"]
        for name, figures in summary.items()
        for variant in VARIANTS
        if figures[variant]["failed"]
    }
    lines += ["", f"Answers of 400 or more: {failures or 'none'}.", ""]
    (RESULTS / "http_bridge.md").write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
