"""Verification: ``POST /api/v1/verify`` on daphne against a trivial JSON view.

Run from the project root: ``.venv/bin/python bench/verify.py [--seconds 8]``.

One throw-away site (SQLite under a temporary VAR_DIR, a private redis-server and
the file cache, as ``make demo`` has them, one real certificate issued by
``certificate_issue``) served by daphne as ``make demo`` runs it. In the same run,
alternating, for the same time each:

- **verify**: ``POST /api/v1/verify`` with the certificate's compact JWT (all six
  checks, the status list included, and the rate limiter counting in the cache,
  its limit raised so that no request is refused);
- **trivial**: ``GET /healthz`` (``{"status": "ok"}``) on the same server;
- **raw**: ``credential_decode`` of the same JWT in this process (Ed25519 and
  JOSE parsing only, no HTTP), as the cost of the cryptography alone.

The client keeps ``--clients`` persistent HTTP connections in threads. Only
ratios are reported (the machines are noisy): verify / trivial (target >= 0.7)
and what share of a verify request the raw verification is. Results on stdout and
in ``bench/results/verify.json`` and ``verify.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET = 0.7


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_setup(var_dir: Path, *, production: bool = False) -> str:
    """Migrate, import the curricula and issue one certificate; its JWT. With
    ``production``, on what ``production.production_env`` has set."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "VAR_DIR": str(var_dir),
            "MEDIA_ROOT": str(var_dir / "media"),
            "LOG_LEVEL": "WARNING",
            "VERIFY_RATE_LIMIT": "1000000000/m",
        }
    )
    if not production:
        os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'db.sqlite3'}"
        for name in ("REDIS_URL", "CACHE_KEY_PREFIX"):
            os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from wagtail.models import Locale

    from courses.content_import import curriculum_import
    from courses.models import ProgrammePage
    from grading.credentials.services import certificate_issue
    from lms.accounts.models import User

    curriculum_import()
    programme = ProgrammePage.objects.filter(locale=Locale.get_default()).first()
    user = User.objects.create_user("bench", "bench@example.org", "x" * 20)
    certificate = certificate_issue(
        user=user,
        programme=programme,
        results=[{"name": "Quizzes", "value": 90, "valueMax": 100}],
        evidence=[],
        valid_for=None,
    )
    return certificate.jwt


def run_clients(port: int, request, *, clients: int, seconds: float) -> float:
    """Requests per second answered 200 by ``clients`` keep-alive connections."""
    counts = [0] * clients
    stop = time.perf_counter() + seconds
    errors: list[str] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            method, path, body, headers = request
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: {response.status}")
                return
            counts[n] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / (time.perf_counter() - started)


def raw_rate(token: str, seconds: float) -> float:
    from grading.credentials import keys
    from grading.credentials.jose import credential_decode

    count, stop = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < stop:
        credential_decode(token, keys.key_resolve)
        count += 1
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--production",
        action="store_true",
        help="PostgreSQL, Redis, DEBUG=false and the platform's web command "
        "(uvicorn, WEB_WORKERS=2) as deploy/prod-local.sh; results in "
        "verify-production.json and .md",
    )
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    (var_dir / "run").mkdir()
    server = None
    redis = None
    stack = contextlib.ExitStack()
    environment = "embedded default: SQLite, a private redis-server, daphne, DEBUG on"
    if args.production:
        from production import environment_summary, production_env

        environment = environment_summary(
            stack.enter_context(production_env("verify", var_dir=var_dir))
        )
    else:
        # The private Redis `make demo` starts too (issuing announces live events).
        redis = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server") or "redis-server", "--port", "0"]
            + ["--unixsocket", str(var_dir / "run" / "redis.sock"), "--save", ""],
            stdout=subprocess.DEVNULL,
        )
    try:
        for _ in range(100):
            if redis is None or (var_dir / "run" / "redis.sock").exists():
                break
            time.sleep(0.05)
        token = site_setup(var_dir, production=args.production)
        port = free_port()
        if args.production:
            from lms.management.commands.runplatform import web_command

            command = web_command(BIN, "127.0.0.1", port)
        else:
            command = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
            command.append("lms.asgi:application")
        server = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        verify = (
            "POST",
            "/api/v1/verify",
            token.encode(),
            {"Content-Type": "application/vc+jwt"},
        )
        trivial = ("GET", "/healthz", None, {})
        # Warm-up: the key set and status list loaded and cached in the server.
        run_clients(port, verify, clients=2, seconds=1)
        run_clients(port, trivial, clients=2, seconds=1)
        rounds = []
        for n in range(args.rounds):
            order = [("verify", verify), ("trivial", trivial)]
            rates = {}
            for name, request in order if n % 2 == 0 else order[::-1]:
                rates[name] = run_clients(
                    port, request, clients=args.clients, seconds=args.seconds
                )
            rates["raw"] = raw_rate(token, args.seconds / 2)
            rounds.append(rates)
    finally:
        if server is not None:
            # uvicorn's workers are its children: stop the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=20)
        stack.close()  # drops the production run's database
        shutil.rmtree(var_dir, ignore_errors=True)

    ratios = sorted(r["verify"] / r["trivial"] for r in rounds)
    median = ratios[len(ratios) // 2]
    raw_share = sorted(r["verify"] / r["raw"] for r in rounds)[len(rounds) // 2]
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": environment,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "clients": args.clients,
        },
        "ratio_verify_to_trivial": {"median": round(median, 3), "all": ratios},
        "target": TARGET,
        "met": median >= TARGET,
        "raw_verification_share_of_a_request": round(raw_share, 3),
        "rounds": [{k: round(v, 1) for k, v in r.items()} for r in rounds],
    }
    name = "verify-production" if args.production else "verify"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Verification throughput",
        "",
        f"Run {result['when']} on {os.cpu_count()} CPUs, {args.clients} clients, "
        f"{args.rounds} rounds of {args.seconds:g} s per variant.",
        "",
        f"Environment: {environment}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| POST /api/v1/verify ÷ GET /healthz (median) | **{median:.2f}x** "
        f"(target ≥ {TARGET}: {'met' if result['met'] else 'missed'}) |",
        f"| all rounds | {', '.join(f'{r:.2f}' for r in ratios)} |",
        f"| verify requests ÷ raw in-process Ed25519 verifications | {raw_share:.3f} |",
        "",
        "Ratios only: requests per second differ too much between machines to mean "
        "anything alone.",
    ]
    embedded_path = args.out / "verify.json"
    if args.production and embedded_path.exists():
        embedded = json.loads(embedded_path.read_text())
        lines += [
            "",
            f"Against the embedded default (verify.json, {embedded['when']}, "
            "daphne on SQLite; each ratio against its own run's /healthz):",
            "",
            "| | embedded default | production-shaped |",
            "|---|---|---|",
            f"| verify ÷ trivial (median) | "
            f"{embedded['ratio_verify_to_trivial']['median']:.2f} | {median:.2f} |",
            f"| verify ÷ raw Ed25519 | "
            f"{embedded['raw_verification_share_of_a_request']:.3f} | "
            f"{raw_share:.3f} |",
        ]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
