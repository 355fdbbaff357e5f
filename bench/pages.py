"""Pages: the catalogue and a lesson, anonymous and signed in, against a static file.

Run from the project root: ``.venv/bin/python bench/pages.py [--seconds 5]``.

One throw-away site (SQLite under a temporary VAR_DIR, its own redis-server as the
cache and broker, the demo content, labs and users of ``seed_demo``, collected
static files) run production-shaped: ``DEBUG=false``, the platform's web command
(uvicorn, ``runplatform.web_command``) and WhiteNoise serving the static files.

Two servers on that one site, side by side: **uncached** (``PAGE_CACHE_SECONDS=0``)
and **cached** (the default page cache). On each, alternating for the same time
each, in an order that rotates every round:

- **static**: a collected CSS file under ``/static/`` (WhiteNoise), the baseline;
- **catalogue** ``/en/`` and **lesson** (the seeded lesson with a lab and a quiz),
  each anonymous (no cookie at all) and signed in (the session and CSRF cookies of
  ``graduate``, a trainee enrolled in the programme, sent as a Cookie header
  because ``DEBUG=false`` makes the cookies Secure).

The client keeps ``--clients`` persistent HTTP connections in threads. Reported:
requests per second and p95 latency per variant, and each variant's throughput as a
ratio to the static file's on the same server in the same round (median of the
rounds). Targets: anonymous cached lesson >= 0.5 of static; signed-in lesson >= 0.2
of static and at most 12 queries whatever the data size. Queries are counted in
this process (``django.test.Client`` and ``CaptureQueriesContext`` on the same
database) for a signed-in and an anonymous lesson, as seeded and after the data has
grown (49 more trainees enrolled with completions, quiz attempts and graded lab
submissions, and 49 more of each for ``graduate``).

Results on stdout and in ``bench/results/pages.json`` and ``pages.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
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
TARGET_ANONYMOUS_CACHED_LESSON = 0.5
TARGET_SIGNED_IN_LESSON = 0.2
QUERY_LIMIT = 12
SIZES = ("seeded", "grown")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(var_dir: Path, redis_port: int) -> dict[str, str]:
    """The production-shaped environment of deploy/prod-local.sh, on SQLite."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PAGE_CACHE", "REDIS", "CACHE_", "CHANNEL"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "DEBUG": "false",
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JUPYTERHUB_API_TOKEN": secrets.token_urlsafe(48),
            "HUB_OAUTH_CLIENT_SECRET": secrets.token_urlsafe(48),
            "DEMO_PASSWORD": secrets.token_urlsafe(12),
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SITE_URL": "http://localhost:8000",
            "HUB_ENABLED": "false",
            "READYZ_CHECK_HUB": "false",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "WEB_WORKERS": env_workers(),
        }
    )
    return env


def env_workers() -> str:
    return os.environ.get("BENCH_WEB_WORKERS", "1")


def lab_releases_copy(var_dir: Path) -> None:
    """The lab releases already built under the checkout's var/ (as the browser
    tests do): seed_demo reuses each whose source digest still matches."""
    built = ROOT / "var" / "labs"
    for marker in built.glob("*/v*/.source-sha256"):
        target = var_dir / "labs" / marker.parent.relative_to(built)
        if not target.exists():
            shutil.copytree(marker.parent, target)


def manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]}:\n{result.stdout}\n{result.stderr}")


def server_start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    from lms.management.commands.runplatform import web_command

    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            web_command(BIN, "127.0.0.1", port),
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180  # a loaded machine took over 30 s to start one
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    server_stop(process)  # not left behind: the caller has no handle on it yet
    raise RuntimeError(f"the server did not answer:\n{log.read_text()}")


def server_stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_clients(port: int, path: str, headers: dict, *, clients: int, seconds: float):
    """(requests per second, latencies in seconds) of ``clients`` keep-alive
    connections asking for ``path`` for ``seconds``; anything but 200 is an error."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds
    errors: list[str] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        own = latencies[n]
        while time.perf_counter() < stop:
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            own.append(time.perf_counter() - started)
            if response.status != 200:
                errors.append(f"{path}: {response.status}")
                return
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(errors[0])
    every = [value for own in latencies for value in own]
    return len(every) / (time.perf_counter() - started), every


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def fixtures() -> dict:
    """Paths and the trainee's cookies, read from the seeded site in this process."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.test import Client
    from wagtail.models import Locale

    from courses.models import Enrolment, LessonPage
    from lms.accounts.models import User

    graduate = User.objects.get(username="graduate")
    programme = Enrolment.objects.filter(user=graduate).first().programme
    lessons = LessonPage.objects.live().descendant_of(programme).order_by("path")
    lesson = next(
        (page for page in lessons if any(b.block_type == "lab" for b in page.body)),
        lessons.first(),
    )
    client = Client()
    client.force_login(graduate)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    return {
        "static": staticfiles_storage.url("lms/site.css"),
        "catalogue": "/en/",
        "lesson": lesson.get_translation(Locale.get_default()).url,
        "lesson_id": lesson.pk,
        "cookies": cookies,
        "user_id": graduate.pk,
    }


def csrf_cookie(port: int, path: str, cookies: dict) -> str:
    """The CSRF cookie a browser would hold after its first signed-in page."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    conn.request("GET", path, headers={"Cookie": header})
    response = conn.getresponse()
    response.read()
    for name, value in response.getheaders():
        if name.lower() == "set-cookie" and value.startswith("csrftoken="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return ""


def queries(path: str, user_id: int | None, *, stored: bool = False) -> int:
    """Database queries of one GET of ``path`` rendered (after one warming request,
    with the page cache off), or with ``stored`` answered from the page cache (the
    third request with the cache on: the first sets the CSRF cookie, the second
    stores the page)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from lms.accounts.models import User

    client = Client()
    if user_id is not None:
        client.force_login(User.objects.get(pk=user_id))
    with override_settings(PAGE_CACHE_SECONDS=300 if stored else 0):
        for _ in range(2 if stored else 1):
            assert client.get(path).status_code == 200  # noqa: S101
        with CaptureQueriesContext(connection) as context:
            response = client.get(path)
    assert response.status_code == 200  # noqa: S101
    assert not stored or response["X-Page-Cache"] == "hit"  # noqa: S101
    return len(context)


def data_grows(user_id: int, lesson_id: int) -> None:
    """49 more trainees in the programme with completions, quiz attempts and graded
    lab submissions, and 49 more submissions and quiz attempts for the trainee."""
    from django.db.models import Max

    from courses import services
    from courses.models import Enrolment, LessonPage
    from grading.models import Submission
    from labs.models import Lab, LabSession
    from lms.accounts.models import User

    lesson = LessonPage.objects.get(pk=lesson_id)
    programme = Enrolment.objects.filter(user_id=user_id).first().programme
    lessons = list(LessonPage.objects.live().descendant_of(programme))
    quiz = next((b for b in lesson.body if b.block_type == "quiz"), None)
    lab_slug = next((b.value["lab"] for b in lesson.body if b.block_type == "lab"), "")
    lab = Lab.objects.filter(slug=lab_slug).first()

    def history(user: User, count: int) -> None:
        for done in lessons[:5]:
            services.lesson_complete(user=user, lesson=done)
        for _ in range(count):
            if quiz is not None:
                services.quiz_attempt_submit(  # unanswered: a failed attempt
                    user=user, lesson=lesson, quiz_id=quiz.id, answers={}
                )
            if lab is not None:
                last = Submission.objects.filter(user=user, lab=lab).aggregate(
                    n=Max("attempt")
                )["n"]
                Submission.objects.create(
                    user=user,
                    lab=lab,
                    attempt=(last or 0) + 1,
                    notebook=f"submissions/bench-{user.pk}-{last}.ipynb",
                    sha256="0" * 64,
                    size=100,
                    source=Submission.Source.UPLOAD,
                    lab_version=1,
                    status=Submission.Status.GRADED,
                    score=8,
                    max_score=10,
                    passed=True,
                )
        if lab is not None:
            LabSession.objects.get_or_create(user=user, lab=lab)

    history(User.objects.get(pk=user_id), 49)
    for n in range(49):
        user = User.objects.create_user(
            f"bench-trainee-{n}", f"bench{n}@example.org", "x" * 20, role="trainee"
        )
        services.enrolment_create(user=user, programme=programme)
        history(user, 2)


def main(argv: list[str] | None = None) -> int:  # noqa: C901
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--name", default="pages", help="results file name")
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    redis_port = free_port()
    redis = subprocess.Popen(  # noqa: S603
        [shutil.which("redis-server", path=str(BIN)) or "redis-server"]
        + ["--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(var_dir)],
        stdout=subprocess.DEVNULL,
    )
    servers: dict[str, subprocess.Popen] = {}
    env = site_env(var_dir, redis_port)
    try:
        started = time.perf_counter()
        lab_releases_copy(var_dir)
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", env=env)
        manage("seed_demo", "--password", env["DEMO_PASSWORD"], env=env)
        # Queries are counted in this process on a page that is rendered.
        os.environ.update({**env, "PAGE_CACHE_SECONDS": "0"})
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        site = fixtures()
        ports = {"uncached": free_port(), "cached": free_port()}
        for name, port in ports.items():
            server_env = dict(env)  # cached: the default PAGE_CACHE_SECONDS
            if name == "uncached":
                server_env["PAGE_CACHE_SECONDS"] = "0"
            servers[name] = server_start(server_env, port, var_dir / f"{name}.log")
        token = csrf_cookie(ports["cached"], site["lesson"], site["cookies"])
        signed_in = {
            "Cookie": "; ".join(
                f"{k}={v}" for k, v in {**site["cookies"], "csrftoken": token}.items()
            )
        }
        variants = {
            "static": (site["static"], {}),
            "catalogue anonymous": (site["catalogue"], {}),
            "lesson anonymous": (site["lesson"], {}),
            "catalogue signed in": (site["catalogue"], signed_in),
            "lesson signed in": (site["lesson"], signed_in),
        }
        print(f"setup {time.perf_counter() - started:.0f} s", flush=True)  # noqa: T201
        for port in ports.values():  # warm-up: imports, templates, caches
            for path, headers in variants.values():
                run_clients(port, path, headers, clients=2, seconds=0.5)
        rounds = []
        names = list(variants)
        for n in range(args.rounds):
            figures: dict[str, dict[str, dict]] = {}
            for server in ports if n % 2 == 0 else list(ports)[::-1]:
                shift = n % len(names)
                for name in names[shift:] + names[:shift]:
                    path, headers = variants[name]
                    rate, latencies = run_clients(
                        ports[server],
                        path,
                        headers,
                        clients=args.clients,
                        seconds=args.seconds,
                    )
                    figures.setdefault(server, {})[name] = {
                        "rate": rate,
                        "latencies": latencies,
                    }
                    print(  # noqa: T201
                        f"round {n + 1} {server:8} {name:20} {rate:7.1f}/s",
                        flush=True,
                    )
            rounds.append(figures)
        counts = {
            "seeded": {
                "lesson signed in": queries(site["lesson"], site["user_id"]),
                "lesson anonymous": queries(site["lesson"], None),
                "catalogue signed in": queries(site["catalogue"], site["user_id"]),
            }
        }
        data_grows(site["user_id"], site["lesson_id"])
        counts["grown"] = {
            "lesson signed in": queries(site["lesson"], site["user_id"]),
            "lesson anonymous": queries(site["lesson"], None),
            "catalogue signed in": queries(site["catalogue"], site["user_id"]),
        }
        counts["stored"] = {
            "lesson signed in": queries(site["lesson"], site["user_id"], stored=True),
            "lesson anonymous": queries(site["lesson"], None, stored=True),
            "catalogue signed in": queries(
                site["catalogue"], site["user_id"], stored=True
            ),
        }
    finally:
        for process in servers.values():
            server_stop(process)
        redis.terminate()
        redis.wait(timeout=20)
        shutil.rmtree(var_dir, ignore_errors=True)

    summary: dict[str, dict[str, dict]] = {}
    for server in ports:
        for name in variants:
            rates = [r[server][name]["rate"] for r in rounds]
            ratios = [
                r[server][name]["rate"] / r[server]["static"]["rate"] for r in rounds
            ]
            latencies = [v for r in rounds for v in r[server][name]["latencies"]]
            summary.setdefault(server, {})[name] = {
                "requests_per_second": round(median(rates), 1),
                "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
                "ratio_to_static": round(median(ratios), 3),
                "ratios": [round(r, 3) for r in ratios],
            }
    anonymous = summary["cached"]["lesson anonymous"]["ratio_to_static"]
    # As served in production (the page cache on); the uncached server's figure,
    # every page rendered, is reported beside it.
    signed = summary["cached"]["lesson signed in"]["ratio_to_static"]
    signed_queries = max(counts[size]["lesson signed in"] for size in SIZES)
    steady = counts["seeded"]["lesson signed in"] == counts["grown"]["lesson signed in"]
    targets = {
        "anonymous cached lesson >= 0.5 of static": anonymous
        >= TARGET_ANONYMOUS_CACHED_LESSON,
        "signed-in lesson >= 0.2 of static": signed >= TARGET_SIGNED_IN_LESSON,
        "signed-in lesson <= 12 queries, same at both sizes": signed_queries
        <= QUERY_LIMIT
        and steady,
    }
    commit = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": commit or "unknown",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        },
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "clients": args.clients,
            "web_workers": int(env_workers()),
        },
        "paths": {name: path for name, (path, _h) in variants.items()},
        "servers": summary,
        "queries": counts,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Pages: throughput against a static file",
        "",
        f"Run {result['when']}, code {result['code']}, {os.cpu_count()} CPUs (load "
        f"average {result['machine']['load_average'][0]} at the end), "
        f"{args.clients} clients, {args.rounds} rounds of {args.seconds:g} s per "
        f"variant, {env_workers()} uvicorn worker(s), DEBUG=false.",
        "",
        "| server | variant | requests/s | p95 ms | ÷ static (median) | rounds |",
        "|---|---|---|---|---|---|",
    ]
    for server, rows in summary.items():
        for name, row in rows.items():
            lines.append(
                f"| {server} | {name} | {row['requests_per_second']} | "
                f"{row['p95_ms']} | {row['ratio_to_static']:.2f} | "
                f"{', '.join(f'{r:.2f}' for r in row['ratios'])} |"
            )
    lines += [
        "",
        "Queries per request (in-process): seeded and grown, rendered (after one "
        "warming request, page cache off); stored, answered from the page cache "
        "(the reader's own entry when signed in):",
        "",
        "| data | " + " | ".join(counts["seeded"]) + " |",
        "|---|" + "---|" * len(counts["seeded"]),
    ]
    for size, row in counts.items():
        lines.append(f"| {size} | " + " | ".join(str(v) for v in row.values()) + " |")
    lines += [
        "",
        "The signed-in target is read on the cached server, as production serves "
        "it (each reader's page kept for them alone); the uncached server's row is "
        "every request rendered.",
        "",
        "Targets:",
        "",
    ]
    lines += [
        f"- {name}: **{'met' if ok else 'missed'}**" for name, ok in targets.items()
    ]
    lines += [
        "",
        "Ratios only are comparable between runs: requests per second differ too "
        "much between machines to mean anything alone.",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
