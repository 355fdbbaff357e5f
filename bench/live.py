"""Live updates: from a state change to the websocket frame, 500 clients.

Run from the project root: ``.venv/bin/python bench/live.py [--clients 500]``.

One throw-away site (SQLite under a short temporary VAR_DIR, a private
redis-server as ``make demo`` has it, one lab, N instructors each with a signed-in
session) served by the platform's web command (``runplatform.web_command``:
uvicorn, WEB_WORKERS processes). This process holds the websocket clients
(asyncio, the ``websockets`` library, with a browser's cookie and Origin, and
permessage-deflate offered as browsers do); a second Python process is the
sender, as a Celery worker is: each event goes out through the platform's own
``group_send_on_commit`` (outside a transaction, so at once) with
``time.monotonic()`` taken just before and carried in the event's data. A frame's
latency is its arrival in the client minus that time (one machine: the clock is
shared).

Each client opens the two sockets the pages open: ``ws/notifications/`` (its own
group ``user-<pk>``, the trainee pages' socket) and ``ws/gradebook/<slug>/`` of
the one lab (group ``gradebook-<lab>``, the instructor pages' socket). The
gradebook group is the platform's real fan-out: every state change of a
submission goes to it (``grading.services._announce``), and it is the one group
whose members are many users' sockets. Measured, alternating:

- **fanout**: one ``submission`` event to the gradebook group, to all N clients;
- **direct**: one ``notify`` event to one client's ``user-<pk>`` group while all
  N clients (2N sockets) are connected;
- **alone** (baseline): the same direct send with only that client's
  notifications socket connected.

A round connects all N clients, sends fanout and direct in turn (the order
swapped each time), closes them, then connects one client for the baseline
sends (the two phases swap order each round). The first ``--warmup`` sends of
each phase are not counted. The client's own lag (how late a 2 ms timer fires
in its event loop while frames arrive) is reported beside, since the clients
share the machine's two cores with the server.

Results: a table on stdout, ``bench/results/live.json`` and ``live.md``.
Everything started (redis, the server, the sender, the temp dir) is removed at
exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
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
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_P95 = 0.250  # seconds, fan-out to all clients
SLUG = "live-bench"
TIMEOUT = 15.0  # seconds to wait for one send's frames


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def site_environment(var_dir: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "lms.settings",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        "MEDIA_ROOT": str(var_dir / "media"),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }


def site_setup(var_dir: Path, clients: int) -> list[tuple[int, str]]:
    """Migrate; one lab, one trainee's submission, ``clients`` instructors each
    with a session. Returns (user pk, session cookie) per instructor."""
    os.environ.update(site_environment(var_dir))
    for name in ("REDIS_URL", "CACHE_KEY_PREFIX", "CHANNEL_PREFIX"):
        os.environ.pop(name, None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from grading.models import Submission
    from labs.models import Lab
    from lms.accounts.models import User

    lab = Lab.objects.create(
        slug=SLUG,
        title="Live bench",
        notebook=f"{SLUG}.ipynb",
        points=10,
        status=Lab.Status.PUBLISHED,
    )
    trainee = User.objects.create_user("live-trainee", password=None)
    Submission.objects.create(
        user=trainee,
        lab=lab,
        attempt=1,
        notebook="submissions/live.ipynb",
        sha256="0" * 64,
        size=1,
        source=Submission.Source.UPLOAD,
        lab_version=1,
        status=Submission.Status.GRADED,
        score=8,
        max_score=10,
        passed=True,
    )
    unusable = make_password(None)
    users = User.objects.bulk_create(
        User(
            username=f"live{n:04d}",
            email=f"live{n:04d}@example.org",
            role="instructor",
            password=unusable,
        )
        for n in range(clients)
    )
    store = SessionStore()
    expires = timezone.now() + timedelta(days=1)
    sessions = []
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        sessions.append(
            Session(
                session_key=key, session_data=store.encode(data), expire_date=expires
            )
        )
    Session.objects.bulk_create(sessions)
    name = settings.SESSION_COOKIE_NAME
    return [
        (u.pk, f"{name}={s.session_key}") for u, s in zip(users, sessions, strict=True)
    ]


# --- The sender: a separate process, as a worker is ---------------------------------


def sender_main() -> int:
    """Read ``fanout SEQ`` or ``direct USER SEQ`` lines; send each event with the
    platform's helper; answer ``SEQ t0 t1`` (before and after the send)."""
    import django

    django.setup()
    from grading.models import Submission
    from grading.services import gradebook_group, submission_state
    from lms.accounts.events import group_send_on_commit, user_notify_on_commit

    submission = Submission.objects.select_related("lab").get(lab__slug=SLUG)
    state = {"kind": "submission", **submission_state(submission)}
    group = gradebook_group(submission.lab_id)
    print("ready", flush=True)  # noqa: T201
    for line in sys.stdin:
        kind, *args = line.split()
        seq = int(args[-1])
        t0 = time.monotonic()
        data = {**state, "bench": {"seq": seq, "sent_at": t0}}
        if kind == "fanout":
            group_send_on_commit(group=group, event_type="submission", data=data)
        else:
            user_notify_on_commit(user_id=int(args[0]), data=data)
        print(seq, t0, time.monotonic(), flush=True)  # noqa: T201
    return 0


# --- The clients ----------------------------------------------------------------------


@dataclass
class Inbox:
    """Frames of the send in progress: (arrival time, raw text)."""

    expected: int = 0
    frames: list[tuple[float, str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lags: list[float] = field(default_factory=list)

    def arm(self, expected: int) -> None:
        self.expected, self.frames, self.lags = expected, [], []
        self.done.clear()

    def put(self, raw: str) -> None:
        self.frames.append((time.monotonic(), raw))
        if len(self.frames) >= self.expected:
            self.done.set()


async def hold(uri: str, cookie: str, origin: str, inbox: Inbox, opened) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        uri,
        origin=origin,
        additional_headers={"Cookie": cookie},
        open_timeout=120,
        ping_interval=None,
        max_size=2**20,
    ) as ws:
        opened.set_result(True)
        async for raw in ws:
            inbox.put(raw)


class Clients:
    """The websockets of some clients; ``open`` waits until all are accepted."""

    def __init__(self, port: int, inbox: Inbox) -> None:
        self.base = f"ws://127.0.0.1:{port}"
        self.origin = f"http://127.0.0.1:{port}"
        self.inbox = inbox
        self.tasks: list[asyncio.Task] = []

    async def open(self, sessions: list[tuple[int, str]], paths: list[str]) -> float:
        gate = asyncio.Semaphore(25)
        started = time.monotonic()

        async def one(cookie: str, path: str) -> None:
            async with gate:
                opened = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(
                    hold(self.base + path, cookie, self.origin, self.inbox, opened)
                )
                self.tasks.append(task)
                done, _ = await asyncio.wait(
                    [opened, task], return_when=asyncio.FIRST_COMPLETED
                )
                if task in done:  # closed or refused before it opened
                    task.result()
                    raise RuntimeError(f"{path}: closed at once")

        await asyncio.gather(
            *(one(cookie, path) for _pk, cookie in sessions for path in paths)
        )
        return time.monotonic() - started

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        await asyncio.sleep(0.5)  # the server's disconnects and group_discards


async def ticker(inbox: Inbox, period: float = 0.002) -> None:
    """How late a ``period`` timer fires: the client's own event-loop lag."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(period)
        inbox.lags.append(loop.time() - started - period)


# --- One configuration of the server --------------------------------------------------


class Sender:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.seq = 0

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--sender",
            cwd=ROOT,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        line = await asyncio.wait_for(self.process.stdout.readline(), 120)
        if line.strip() != b"ready":
            raise RuntimeError(f"sender did not start: {line!r}")

    async def send(self, command: str) -> tuple[int, float, float]:
        self.seq += 1
        self.process.stdin.write(f"{command} {self.seq}\n".encode())
        await self.process.stdin.drain()
        seq, t0, t1 = (await self.process.stdout.readline()).split()
        assert int(seq) == self.seq
        return self.seq, float(t0), float(t1)

    async def stop(self) -> None:
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 30)


def server_start(port: int, workers: int, extra: list[str], var_dir: Path):
    from django.conf import settings

    from lms.management.commands.runplatform import web_command

    settings.WEB_WORKERS = workers
    command = web_command(BIN, "127.0.0.1", port) + extra
    log = (var_dir / f"web-{port}.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env={**os.environ, "WEB_WORKERS": str(workers)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"web server exited: {command}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise RuntimeError("web server did not answer /healthz")
    return process, command


def server_stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


async def measure(
    sender: Sender,
    inbox: Inbox,
    command: str,
    expected: int,
) -> dict[str, Any]:
    inbox.arm(expected)
    seq, t0, t1 = await sender.send(command)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(inbox.done.wait(), TIMEOUT)
    latencies = []
    for arrived, raw in inbox.frames:
        bench = json.loads(raw)["data"]["bench"]
        if bench["seq"] == seq:
            latencies.append(arrived - bench["sent_at"])
    return {
        "latencies": latencies,
        "lost": expected - len(latencies),
        "send_call": t1 - t0,
        "client_lag_max": max(inbox.lags, default=0.0),
    }


async def run_config(
    port: int,
    sessions: list[tuple[int, str]],
    env: dict[str, str],
    *,
    rounds: int,
    sends: int,
    warmup: int,
    gap: float,
) -> dict[str, list[dict]]:
    inbox = Inbox()
    clients = Clients(port, inbox)
    sender = Sender(env)
    await sender.start()
    tick = asyncio.create_task(ticker(inbox))
    samples: dict[str, list[dict]] = {"fanout": [], "direct": [], "alone": []}
    connect_seconds: list[float] = []
    everyone = ["/ws/notifications/", f"/ws/gradebook/{SLUG}/"]
    n = len(sessions)
    try:
        for r in range(rounds):
            phases = ["loaded", "alone"] if r % 2 == 0 else ["alone", "loaded"]
            for phase in phases:
                if phase == "loaded":
                    connect_seconds.append(await clients.open(sessions, everyone))
                else:
                    await clients.open([sessions[r % n]], everyone[:1])
                await asyncio.sleep(gap)
                for i in range(warmup + sends):
                    target, _cookie = sessions[(r * sends + i) % n]
                    if phase == "loaded":
                        order = [
                            ("fanout", "fanout", n),
                            ("direct", f"direct {target}", 1),
                        ]
                        order = order if i % 2 == 0 else order[::-1]
                    else:
                        target = sessions[r % n][0]
                        order = [("alone", f"direct {target}", 1)]
                    for name, command, expected in order:
                        sample = await measure(sender, inbox, command, expected)
                        if i >= warmup:
                            samples[name].append(sample)
                        await asyncio.sleep(gap)
                await clients.close()
            print(  # noqa: T201
                f"  round {r + 1}/{rounds}: "
                + ", ".join(
                    f"{k} p95 {1000 * percentile(flat(v), 0.95):.1f} ms"
                    for k, v in samples.items()
                ),
                flush=True,
            )
    finally:
        tick.cancel()
        await clients.close()
        await sender.stop()
    samples["connect_seconds"] = connect_seconds  # type: ignore[assignment]
    return samples


def flat(samples: list[dict]) -> list[float]:
    return [x for s in samples for x in s["latencies"]]


def summary(samples: list[dict]) -> dict[str, Any]:
    values = flat(samples)
    lasts = [max(s["latencies"]) for s in samples if s["latencies"]]
    ms = 1000
    return {
        "frames": len(values),
        "sends": len(samples),
        "lost": sum(s["lost"] for s in samples),
        "p50_ms": round(ms * percentile(values, 0.5), 2),
        "p95_ms": round(ms * percentile(values, 0.95), 2),
        "max_ms": round(ms * max(values, default=float("nan")), 2),
        "last_frame_p50_ms": round(ms * percentile(lasts, 0.5), 2),
        "last_frame_p95_ms": round(ms * percentile(lasts, 0.95), 2),
        "send_call_p50_ms": round(
            ms * percentile([s["send_call"] for s in samples], 0.5), 2
        ),
        "client_lag_p50_ms": round(
            ms * percentile([s["client_lag_max"] for s in samples], 0.5), 2
        ),
        "client_lag_max_ms": round(
            ms * max((s["client_lag_max"] for s in samples), default=0.0), 2
        ),
    }


def config_parse(spec: str) -> tuple[int, list[str]]:
    """``2`` or ``1:--ws=websockets,--ws-per-message-deflate=false``."""
    workers, _sep, extra = spec.partition(":")
    return int(workers), [a for a in extra.split(",") if a]


def report(result: dict[str, Any]) -> list[str]:
    s = result["settings"]
    lines = [
        "# Live updates: state change → websocket frame",
        "",
        f"Run {result['when']} on {result['machine']['cpus']} CPUs "
        f"(load average {result['machine']['load_before']} before), code "
        f"{result['code']}; {s['clients']} clients (each a notifications and a "
        f"gradebook socket), {s['rounds']} rounds × {s['sends']} sends per kind "
        f"and phase, {s['gap']} s apart.",
        "",
        "| server | kind | frames | p50 ms | p95 ms | max ms | last frame p50 / p95 ms"
        " | ratio p50 / p95 to alone | client lag p50 / max ms | lost |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config in result["configs"]:
        alone = config["alone"]
        for kind in ("fanout", "direct", "alone"):
            row = config[kind]
            ratio = (
                f"{row['p50_ms'] / alone['p50_ms']:.2f} / "
                f"{row['p95_ms'] / alone['p95_ms']:.2f}"
            )
            lines.append(
                f"| {config['name']} | {kind} | {row['frames']} | {row['p50_ms']} | "
                f"**{row['p95_ms']}** | {row['max_ms']} | {row['last_frame_p50_ms']}"
                f" / {row['last_frame_p95_ms']} | {ratio} | "
                f"{row['client_lag_p50_ms']} / {row['client_lag_max_ms']} | "
                f"{row['lost']} |"
            )
    lines += ["", f"Target: fan-out p95 < {1000 * TARGET_P95:.0f} ms."]
    for config in result["configs"]:
        verdict = "met" if config["met"] else "missed"
        lines.append(
            f"- {config['name']}: fan-out p95 {config['fanout']['p95_ms']} ms, "
            f"{verdict}; {s['clients']} clients connected in "
            f"{config['connect_seconds_p50']} s (median)."
        )
    lines += [
        "",
        "Server command per configuration:",
        "",
        *[f"    {' '.join(c['command'])}" for c in result["configs"]],
    ]
    return lines


async def run_all(args, sessions, env, var_dir) -> list[dict[str, Any]]:
    configs = []
    for spec in args.config:
        workers, extra = config_parse(spec)
        port = free_port()
        process, command = server_start(port, workers, extra, var_dir)
        name = f"workers={workers}" + (f" {' '.join(extra)}" if extra else "")
        print(f"{name}: serving on {port}", flush=True)  # noqa: T201
        try:
            samples = await run_config(
                port,
                sessions,
                env,
                rounds=args.rounds,
                sends=args.sends,
                warmup=args.warmup,
                gap=args.gap,
            )
        finally:
            server_stop(process)
        connects = samples.pop("connect_seconds")
        config = {
            "name": name,
            "command": [Path(command[0]).name, *command[1:]],
            **{kind: summary(v) for kind, v in samples.items()},
            "connect_seconds_p50": round(percentile(connects, 0.5), 2),
        }
        config["met"] = config["fanout"]["p95_ms"] < 1000 * TARGET_P95
        configs.append(config)
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sends", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument(
        "--config",
        action="append",
        help="WORKERS[:uvicorn,args] (repeatable; default: 1 and 2 workers)",
    )
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results"), help="'' writes nothing"
    )
    parser.add_argument("--name", default="live")
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sender:
        return sender_main()
    args.config = args.config or ["1", "2"]

    load_before = round(os.getloadavg()[0], 2)
    # Short: the redis socket's path must fit in 107 bytes.
    var_dir = Path(tempfile.mkdtemp(prefix="blv-", dir="/tmp"))
    (var_dir / "run").mkdir()
    redis = subprocess.Popen(  # noqa: S603
        [shutil.which("redis-server", path=str(BIN)) or "redis-server"]
        + ["--port", "0", "--unixsocket", str(var_dir / "run" / "redis.sock")]
        + ["--save", "", "--appendonly", "no", "--dir", str(var_dir / "run")],
        stdout=subprocess.DEVNULL,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        for _ in range(100):
            if (var_dir / "run" / "redis.sock").exists():
                break
            time.sleep(0.05)
        sessions = site_setup(var_dir, args.clients)
        env = {**os.environ}
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        configs = asyncio.run(run_all(args, sessions, env, var_dir))
    finally:
        redis.terminate()
        redis.wait(timeout=20)
        shutil.rmtree(var_dir, ignore_errors=True)

    code = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": code,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
        },
        "settings": {
            "clients": args.clients,
            "rounds": args.rounds,
            "sends": args.sends,
            "warmup": args.warmup,
            "gap": args.gap,
        },
        "target_fanout_p95_ms": 1000 * TARGET_P95,
        "configs": configs,
    }
    for config in configs:
        alone = config["alone"]
        config["ratios_to_alone"] = {
            kind: {
                q: round(config[kind][f"{q}_ms"] / alone[f"{q}_ms"], 2)
                for q in ("p50", "p95", "max")
            }
            for kind in ("fanout", "direct")
        }
    lines = report(result)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
