"""Load: signed-in trainees, lab submissions and verifications at once, open loop.

Run from the project root, under the bench lock:
``flock /tmp/silkroute-bench.lock .venv/bin/python bench/load.py [--duration 300]``.

The platform runs as ``deploy/prod-local.sh`` runs it (``bench/production.py``:
``platform_start``): this machine's PostgreSQL (a database of this run, dropped at
exit) and Redis (database 12, this run's key prefixes), ``DEBUG=false``, uvicorn
with ``--workers`` processes, a Celery worker and beat, and the JupyterHub. The
demo is seeded by prod-local.sh; this process then adds, in bulk, ``--users``
trainees enrolled in the first programme, each with a session (the cookie a
sign-in gives) and an API token, and a few more certificates to verify. The
verification rate limit is raised for the run (every request comes from
127.0.0.1).

The load generator is this process: asyncio on uvloop with aiohttp (already in the
lock through JupyterHub; leaner per request than httpx, and the generator's CPU
competes with the server's on the same cores). Arrivals are open loop: each stream
draws its arrival times in advance (Poisson, seeded; submissions evenly spaced) and
sends at those times whether or not earlier requests have been answered, so a slow
server shows as latency, not as less offered load. Streams:

- **browse** (``users / think`` per second): a random trainee asks for a page of
  the programme: lesson, course, programme, catalogue or their dashboard;
- **quiz** (``users / quiz-every``): a trainee answers one quiz of the programme
  (the lesson's form, with its CSRF token; half the answers right), then follows
  the redirect to the lesson as a browser does ("quiz result");
- **submit** (``--submissions-per-minute``): a notebook of a shipped lab (right,
  half right, wrong code or blank in turn, as ``tests/grading/test_equivalence``
  builds them) to ``POST /api/v1/labs/<slug>/submissions`` with a token;
- **verify** (``--verifications-per-second``): ``POST /api/v1/verify`` with an
  issued credential (three in four; one in five of the credentials is revoked)
  or ``GET /verify/<id>``;
- **baseline**: ``GET /healthz`` and a static CSS file at a low rate on the same
  server through the same client, during the load and alone before it: each
  kind's latency is reported as a ratio to ``/healthz``'s in the same phase.

After the load, every submission is followed by ``GET /api/v1/submissions/<id>``
until it is graded (bounded by ``--grading-timeout``); time to graded is the row's
``graded_at`` minus its ``created_at``. CPU is sampled (psutil, 4 times a second)
per process group of the platform (web, worker with its kernels, beat, hub,
supervisor), for PostgreSQL and Redis (shared servers) and for this process.

Bounded by ``--duration`` and by count (``--max-requests`` arrivals at most;
``--max-inflight`` requests outstanding at most, arrivals beyond it are counted
as not sent). Everything started is stopped at exit, Ctrl-C and SIGTERM included,
and the database dropped. Results: ``bench/results/load.json`` and ``load.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs" / "notebooks"
REDIS_DB = 12  # production benchmarks use 13, the test suite 14 and 15
KINDS = ("right", "half", "wrong", "blank")
REQUEST_TIMEOUT = 30.0
BROWSE = (("lesson", 50), ("course", 15), ("programme", 10), ("catalogue", 10))
BROWSE += (("dashboard", 15),)
EXPECTED = {"submit": {201}, "quiz": {302}}  # anything else: 200


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)  # noqa: T201


# --- What the load uses, made in this process on the seeded site ---------------------


@dataclass
class Trainee:
    pk: int
    session: str
    token: str
    csrf_cookie: str = ""
    csrf_form: str = ""

    def cookie(self, names: dict[str, str]) -> str:
        parts = [f"{names['session']}={self.session}"]
        if self.csrf_cookie:
            parts.append(f"{names['csrf']}={self.csrf_cookie}")
        return "; ".join(parts)


@dataclass
class Plan:
    trainees: list[Trainee]
    cookie_names: dict[str, str]
    pages: dict[str, list[str]]  # browse kind -> paths
    quizzes: list[dict]  # {path, action, questions: [(id, kind, right, choices)]}
    labs: list[dict]  # {slug, notebooks: {kind: bytes}, max_attempts}
    credentials: list[dict]  # {id, jwt, revoked}
    static: str


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _in_default_language(function, *args, **kwargs):
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        return function(*args, **kwargs)


def plan_make(*, users: int) -> Plan:
    """``users`` trainees enrolled in the first programme, signed in and with a
    token; the programme's pages and quizzes; the shipped labs' notebooks; the
    credentials to verify."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.cached_db import SessionStore
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.urls import reverse
    from wagtail.models import Locale

    from courses.models import CoursePage, LessonPage, ProgrammePage
    from courses.services import enrolment_create
    from grading.credentials.models import Certificate
    from grading.credentials.services import certificate_issue, certificate_revoke
    from labs.models import Lab
    from labs.services import lab_release_dir
    from lms.accounts.models import Role, User
    from lms.accounts.services import api_token_create
    from tests.grading.test_equivalence import submissions

    programme = (
        ProgrammePage.objects.live()
        .filter(locale=Locale.get_default())
        .order_by("path")
        .first()
    )
    password = make_password(None)  # unusable: they are signed in by session
    people = User.objects.bulk_create(
        User(
            username=f"load-{n:04d}",
            email=f"load-{n:04d}@example.org",
            role=Role.TRAINEE,
            password=password,
        )
        for n in range(users)
    )
    trainees = []
    for user in people:
        enrolment_create(user=user, programme=programme)
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        trainees.append(
            Trainee(user.pk, store.session_key, api_token_create(user=user))
        )

    lessons = list(LessonPage.objects.live().descendant_of(programme).order_by("path"))
    courses = CoursePage.objects.live().descendant_of(programme).order_by("path")
    pages = {
        "lesson": [page.url for page in lessons],
        "course": [page.url for page in courses],
        "programme": [programme.url],
        "catalogue": [programme.get_parent().url],
        "dashboard": [_in_default_language(reverse, "dashboard")],
    }
    quizzes = []
    for lesson in lessons:
        for block in lesson.body:
            if block.block_type != "quiz":
                continue
            questions = []
            for question in block.value["questions"]:
                value = question.value
                if question.block_type == "numeric":
                    right = [str(value["answer"])]
                    count = 0
                else:
                    choices = value["choices"]
                    right = [str(i) for i, c in enumerate(choices) if c["correct"]]
                    count = len(choices)
                questions.append((question.id, question.block_type, right, count))
            quizzes.append(
                {
                    "path": lesson.url,
                    "action": _in_default_language(
                        reverse, "courses:quiz_submit", args=[lesson.pk, block.id]
                    ),
                    "questions": questions,
                }
            )

    labs = []
    for lab in Lab.objects.filter(status=Lab.Status.PUBLISHED).order_by("slug"):
        source = json.loads((LABS / lab.slug / lab.notebook).read_text())
        release = json.loads((lab_release_dir(lab) / lab.notebook).read_text())
        labs.append(
            {
                "slug": lab.slug,
                "notebook": lab.notebook,
                "max_attempts": lab.max_attempts,
                "notebooks": submissions(source, release),
            }
        )

    # The graduate's two (one revoked) and eight more, two of them revoked.
    for n, trainee in enumerate(trainees[:8]):
        certificate = certificate_issue(
            user=User.objects.get(pk=trainee.pk),
            programme=programme,
            results=[{"name": "Quizzes", "value": 90, "valueMax": 100}],
            evidence=[],
            valid_for=None,
        )
        if n % 4 == 3:
            certificate_revoke(certificate=certificate, reason="load test", by=None)
    credentials = [
        {"id": str(c.pk), "jwt": c.jwt, "revoked": c.revoked_at is not None}
        for c in Certificate.objects.order_by("pk")
    ]
    return Plan(
        trainees=trainees,
        cookie_names={
            "session": settings.SESSION_COOKIE_NAME,
            "csrf": settings.CSRF_COOKIE_NAME,
        },
        pages=pages,
        quizzes=quizzes,
        labs=labs,
        credentials=credentials,
        static=staticfiles_storage.url("lms/site.css"),
    )


# --- Recording ----------------------------------------------------------------------


@dataclass
class Kind:
    offered: int = 0  # requests made (for a stream: arrivals due)
    not_sent: int = 0  # arrivals dropped at the in-flight or count bound
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)  # sent late by the generator
    examples: list[str] = field(default_factory=list)  # first unexpected answers


class Recorder:
    def __init__(self) -> None:
        self.kinds: dict[str, Kind] = {}  # by request kind
        self.arrivals: dict[str, Kind] = {}  # by stream
        self.inflight = 0
        self.peak_inflight = 0

    def kind(self, name: str) -> Kind:
        return self.kinds.setdefault(name, Kind())


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


class Client:
    """One aiohttp session for every simulated person (cookies sent as headers:
    with DEBUG off they are Secure, which a client on http:// would not send)."""

    def __init__(self, base: str, recorder: Recorder) -> None:
        import aiohttp

        self.base = base
        self.recorder = recorder
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            auto_decompress=True,
        )

    async def request(
        self, kind: str, method: str, path: str, **kwargs
    ) -> tuple[int | str, bytes, dict]:
        """Send, read the whole answer, record its status and latency."""
        record = self.recorder.kind(kind)
        record.offered += 1
        self.recorder.inflight += 1
        self.recorder.peak_inflight = max(
            self.recorder.peak_inflight, self.recorder.inflight
        )
        started = time.perf_counter()
        status: int | str
        body, headers = b"", {}
        try:
            async with self.session.request(
                method, self.base + path, allow_redirects=False, **kwargs
            ) as response:
                body = await response.read()
                status, headers = response.status, dict(response.headers)
        except TimeoutError:
            status = "timeout"
        except Exception as error:  # noqa: BLE001 (a refused or reset connection)
            status = type(error).__name__
        finally:
            self.recorder.inflight -= 1
        elapsed = time.perf_counter() - started
        record.statuses[status] += 1
        if status in EXPECTED.get(kind, {200}):
            record.latencies.append(elapsed)
        elif len(record.examples) < 3:
            record.examples.append(f"{status} {path}: {body[:200]!r}")
        return status, body, headers

    async def close(self) -> None:
        await self.session.close()


# --- The simulated people -------------------------------------------------------------

CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Load:
    def __init__(self, plan: Plan, client: Client, args, rng: random.Random):
        self.plan, self.client, self.args, self.rng = plan, client, args, rng
        self.submitted: list[dict] = []
        self._slots = self._submission_slots()

    def _submission_slots(self):
        """(trainee, lab) pairs, each used once: attempts are limited per lab."""
        for n, trainee in enumerate(self.plan.trainees):
            for offset in range(len(self.plan.labs)):
                yield trainee, self.plan.labs[(n + offset) % len(self.plan.labs)]

    def headers(self, trainee: Trainee) -> dict[str, str]:
        return {"Cookie": trainee.cookie(self.plan.cookie_names)}

    async def csrf_fetch(self, trainee: Trainee) -> None:
        """The lesson a trainee opens first: its CSRF cookie and form token."""
        path = self.plan.quizzes[0]["path"] if self.plan.quizzes else "/dashboard/"
        for _try in range(10):  # a failure is recorded (and reported), then retried
            status, body, headers = await self.client.request(
                "first lesson (setup)", "GET", path, headers=self.headers(trainee)
            )
            if status == 200:
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError(f"the first lesson answered {status}")
        found = re.search(
            rf"{self.plan.cookie_names['csrf']}=([^;]+)", headers.get("Set-Cookie", "")
        )
        token = CSRF_INPUT.search(body)
        if found is None or token is None:
            raise RuntimeError("no CSRF cookie or form token on the first lesson")
        trainee.csrf_cookie = found.group(1)
        trainee.csrf_form = token.group(1).decode()

    async def browse(self) -> None:
        trainee = self.rng.choice(self.plan.trainees)
        names, weights = zip(*BROWSE, strict=True)
        kind = self.rng.choices(names, weights)[0]
        path = self.rng.choice(self.plan.pages[kind])
        await self.client.request(kind, "GET", path, headers=self.headers(trainee))

    async def quiz(self) -> None:
        trainee = self.rng.choice(self.plan.trainees)
        quiz = self.rng.choice(self.plan.quizzes)
        form = [("csrfmiddlewaretoken", trainee.csrf_form)]
        for question_id, _kind, right, count in quiz["questions"]:
            if self.rng.random() < 0.5 or count == 0:
                given = right if self.rng.random() < 0.5 or count == 0 else ["0"]
            else:
                given = [str(self.rng.randrange(count))]
            form += [(f"q-{question_id}", value) for value in given]
        headers = {
            **self.headers(trainee),
            "Referer": f"{self.client.base}{quiz['path']}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        status, _body, answer = await self.client.request(
            "quiz", "POST", quiz["action"], data=form, headers=headers
        )
        location = answer.get("Location", "")
        if status == 302 and location.startswith("/"):
            await self.client.request(
                "quiz result",
                "GET",
                location.split("#")[0],
                headers=self.headers(trainee),
            )

    async def submit(self) -> None:
        import aiohttp

        try:
            trainee, lab = next(self._slots)
        except StopIteration:
            self.client.recorder.kind("submit").not_sent += 1
            return
        kind = KINDS[len(self.submitted) % len(KINDS)]
        form = aiohttp.FormData()
        form.add_field(
            "notebook",
            lab["notebooks"][kind],
            filename=lab["notebook"],
            content_type="application/x-ipynb+json",
        )
        entry = {"lab": lab["slug"], "kind": kind, "sent": time.time()}
        status, body, _h = await self.client.request(
            "submit",
            "POST",
            f"/api/v1/labs/{lab['slug']}/submissions",
            data=form,
            headers={"Authorization": f"Bearer {trainee.token}"},
        )
        entry["status"] = status
        if status == 201:
            entry["id"] = json.loads(body)["id"]
            entry["token"] = trainee.token
        self.submitted.append(entry)

    async def verify(self) -> None:
        credential = self.rng.choice(self.plan.credentials)
        if self.rng.random() < 0.75:
            await self.client.request(
                "verify API",
                "POST",
                "/api/v1/verify",
                data=credential["jwt"].encode(),
                headers={"Content-Type": "application/vc+jwt"},
            )
        else:
            await self.client.request(
                "verify page", "GET", f"/verify/{credential['id']}"
            )

    async def healthz(self) -> None:
        await self.client.request("healthz", "GET", "/healthz")

    async def static(self) -> None:
        await self.client.request("static", "GET", self.plan.static)


async def streams_run(
    load: Load, streams: dict[str, tuple[float, Any, bool]], *, seconds: float
) -> dict[str, Any]:
    """Send every stream's arrivals at their times for ``seconds``; wait for the
    answers (each bounded by the request timeout). ``streams``: name -> (rate per
    second, action, Poisson)."""
    args, recorder = load.args, load.client.recorder
    schedule: list[tuple[float, str]] = []
    for name, (rate, _action, poisson) in streams.items():
        if rate <= 0:
            continue
        moment = load.rng.expovariate(rate) if poisson else 0.5 / rate
        while moment < seconds:
            schedule.append((moment, name))
            moment += load.rng.expovariate(rate) if poisson else 1 / rate
    schedule.sort()
    for _moment, name in schedule[args.max_requests :]:  # beyond the count bound
        record = recorder.arrivals.setdefault(name, Kind())
        record.offered += 1
        record.not_sent += 1
    schedule = schedule[: args.max_requests]
    tasks: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for moment, name in schedule:
        delay = start + moment - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        record = recorder.arrivals.setdefault(name, Kind())
        record.offered += 1
        record.lags.append(max(0.0, loop.time() - start - moment))
        if recorder.inflight >= args.max_inflight:
            record.not_sent += 1
            continue
        record.latencies.append(0.0)  # counts the arrivals sent
        task = asyncio.create_task(streams[name][1]())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sent_for = loop.time() - start
    if tasks:
        await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT * 2 + 5)
    return {
        "seconds": seconds,
        "sent_for": sent_for,
        "drained_after": loop.time() - start,
    }


async def grading_wait(load: Load, *, timeout: float) -> None:
    """Follow every accepted submission through the API until graded or failed."""
    pending = [entry for entry in load.submitted if "id" in entry]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        still = []
        for entry in pending:
            status, body, _h = await load.client.request(
                "submission poll",
                "GET",
                f"/api/v1/submissions/{entry['id']}",
                headers={"Authorization": f"Bearer {entry['token']}"},
            )
            state = json.loads(body) if status == 200 else {}
            if state.get("status") in {"graded", "error"}:
                entry.update(
                    state=state["status"],
                    score=state.get("score"),
                    max_score=state.get("max_score"),
                    passed=state.get("passed"),
                )
            else:
                still.append(entry)
        pending = still
        if pending:
            await asyncio.sleep(2)


# --- CPU and machine ------------------------------------------------------------------


def process_group(command: list[str]) -> str | None:
    text = " ".join(command)
    if "uvicorn" in text:
        return "web (uvicorn)"
    if "celery" in text and " worker" in text:
        return "Celery worker (with grading kernels)"
    if "celery" in text and " beat" in text:
        return "Celery beat"
    if "jupyterhub" in text or "configurable-http-proxy" in text:
        return "hub (with proxy)"
    return None


class Meter:
    """CPU seconds per group of processes, sampled four times a second (a process
    that lives less than that between two samples is missed); the machine's busy
    share and load average."""

    def __init__(self, platform_pid: int) -> None:
        self.platform_pid = platform_pid
        self.seen: dict[tuple[int, float], tuple[str, float]] = {}
        self.loads: list[float] = []
        self._stop = threading.Event()

    def _walk(self, process, group: str) -> None:
        import psutil

        try:
            own = process_group(process.cmdline()) or group
            times = process.cpu_times()
            self.seen[(process.pid, process.create_time())] = (
                own,
                times.user + times.system,
            )
            for child in process.children():
                self._walk(child, own)
        except psutil.Error:
            pass

    def _sample(self) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            self._walk(psutil.Process(self.platform_pid), "supervisor (honcho, shell)")
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            group = {"postgres": "PostgreSQL (shared server)"}.get(name)
            if name.startswith("redis-server"):
                group = "Redis (shared server)"
            if group is None:
                continue
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                key = (process.pid, process.create_time())
                self.seen[key] = (group, times.user + times.system)
        me = psutil.Process()
        times = me.cpu_times()
        self.seen[(me.pid, me.create_time())] = (
            "load generator (this process)",
            times.user + times.system,
        )

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()
            self.loads.append(os.getloadavg()[0])

    def start(self) -> Meter:
        import psutil

        self._sample()
        self.before = {key: cpu for key, (_g, cpu) in self.seen.items()}
        self.machine = psutil.cpu_times()
        self.load_before = os.getloadavg()[0]
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        import psutil

        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.monotonic() - self.started
        after = psutil.cpu_times()
        spent = {n: getattr(after, n) - getattr(self.machine, n) for n in after._fields}
        total = sum(spent.values())
        idle = spent.get("idle", 0) + spent.get("iowait", 0)
        groups: Counter = Counter()
        for key, (group, cpu) in self.seen.items():
            groups[group] += cpu - self.before.get(key, 0.0)
        cpus = os.cpu_count() or 1
        busy = (total - idle) / total * wall * cpus if total else 0.0
        return {
            "wall_seconds": round(wall, 1),
            "cpus": cpus,
            "machine_busy_percent": round(100 * (1 - idle / total), 1) if total else 0,
            "machine_cpu_seconds": round(busy, 1),
            "steal_percent": round(100 * spent.get("steal", 0) / total, 1)
            if total
            else 0,
            "load_average": {
                "before": round(self.load_before, 2),
                "mean": round(statistics.fmean(self.loads), 2) if self.loads else None,
                "max": round(max(self.loads), 2) if self.loads else None,
            },
            "cpu_seconds": {g: round(s, 1) for g, s in groups.most_common()},
        }


# --- Report ---------------------------------------------------------------------------


def kind_summary(name: str, record: Kind, seconds: float) -> dict[str, Any]:
    ok = record.latencies
    expected = EXPECTED.get(name, {200})
    errors = {
        str(status): count
        for status, count in record.statuses.items()
        if count and status not in expected
    }
    return {
        "offered": record.offered,
        "offered_per_second": round(record.offered / seconds, 2),
        "answered": sum(record.statuses.values()),
        "ok": len(ok),
        "achieved_per_second": round(len(ok) / seconds, 2),
        "not_sent": record.not_sent,
        "statuses": {str(k): v for k, v in sorted(record.statuses.items(), key=str)},
        "errors": errors,
        "server_errors": sum(
            v for k, v in record.statuses.items() if isinstance(k, int) and k >= 500
        ),
        "p50_ms": _ms(percentile(ok, 0.50)),
        "p95_ms": _ms(percentile(ok, 0.95)),
        "p99_ms": _ms(percentile(ok, 0.99)),
        "max_ms": _ms(max(ok) if ok else None),
        "send_lag_p99_ms": _ms(percentile(record.lags, 0.99)),
        "examples": record.examples,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def grading_summary(load: Load) -> dict[str, Any]:
    from grading.models import Submission

    entries = load.submitted
    accepted = [e for e in entries if "id" in e]
    rows = {
        row.pk: row
        for row in Submission.objects.filter(pk__in=[e["id"] for e in accepted])
    }
    to_graded, to_claim, grading = [], [], []
    by_kind: dict[str, Counter] = {}
    for entry in accepted:
        row = rows[entry["id"]]
        tally = by_kind.setdefault(entry["kind"], Counter())
        tally[row.status] += 1
        if row.status == "graded" and row.graded_at:
            to_graded.append((row.graded_at - row.created_at).total_seconds())
            if row.grading_started_at:
                to_claim.append(
                    (row.grading_started_at - row.created_at).total_seconds()
                )
            if row.seconds is not None:
                grading.append(row.seconds)
            if entry["kind"] == "right" and row.score != row.max_score:
                tally["right but not full marks"] += 1
            if entry["kind"] == "blank" and row.score:
                tally["blank but scored"] += 1

    def seconds(values: list[float], share: float) -> float | None:
        value = percentile(values, share)
        return None if value is None else round(value, 2)

    # Rows of submissions whose answer the client did not see (a timeout) too.
    stored = Counter(
        Submission.objects.filter(user__username__startswith="load-").values_list(
            "status", flat=True
        )
    )
    return {
        "rows_in_database": dict(stored),
        "sent": len(entries),
        "accepted": len(accepted),
        "refused": Counter(str(e["status"]) for e in entries if "id" not in e),
        "graded": sum(1 for e in accepted if rows[e["id"]].status == "graded"),
        "error": sum(1 for e in accepted if rows[e["id"]].status == "error"),
        "not_finished": sum(
            1 for e in accepted if rows[e["id"]].status not in {"graded", "error"}
        ),
        "seen_through_api": sum(1 for e in accepted if "state" in e),
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        "errors": [rows[e["id"]].error[:300] for e in accepted if rows[e["id"]].error][
            :5
        ],
        "time_to_graded_s": {
            "p50": seconds(to_graded, 0.5),
            "p95": seconds(to_graded, 0.95),
            "max": round(max(to_graded), 2) if to_graded else None,
        },
        "queued_to_claimed_s": {
            "p50": seconds(to_claim, 0.5),
            "p95": seconds(to_claim, 0.95),
        },
        "grading_s": {"p50": seconds(grading, 0.5), "p95": seconds(grading, 0.95)},
    }


def ratios(kinds: dict[str, dict], baseline: str) -> dict[str, dict]:
    base = kinds.get(baseline) or {}
    out = {}
    for name, row in kinds.items():
        out[name] = {
            key: round(row[key] / base[key], 2)
            if row.get(key) and base.get(key)
            else None
            for key in ("p50_ms", "p95_ms")
        }
    return out


def errors_logged(path: Path, limit: int = 8) -> list[str]:
    """The first lines of the platform's log at level ERROR (tracebacks of 5xx)."""
    found = []
    with contextlib.suppress(OSError), path.open(errors="replace") as lines:
        for line in lines:
            if '"level": "ERROR"' in line or "Traceback" in line:
                found.append(line.strip()[:1500])
                if len(found) >= limit:
                    break
    return found


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (
        " (with uncommitted changes)" if git("status", "--porcelain") else ""
    )


ORDER = (
    "lesson",
    "course",
    "programme",
    "catalogue",
    "dashboard",
    "quiz",
    "quiz result",
    "submit",
    "verify API",
    "verify page",
    "healthz",
    "static",
    "submission poll",
)


def cpu_table(title: str, m: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## {title}",
        "",
        f"Machine busy {m['machine_busy_percent']}% of {m['cpus']} CPUs over "
        f"{m['wall_seconds']} s ({m['machine_cpu_seconds']} CPU s; steal "
        f"{m['steal_percent']}%); load average {m['load_average']['before']} before, "
        f"mean {m['load_average']['mean']}, max {m['load_average']['max']}.",
        "",
        "| process group | CPU s | share of the machine's busy CPU |",
        "|---|---|---|",
    ]
    busy = m["machine_cpu_seconds"] or 1
    accounted = 0.0
    for group, cpu in m["cpu_seconds"].items():
        accounted += cpu
        lines.append(f"| {group} | {cpu} | {100 * cpu / busy:.0f}% |")
    rest = max(0.0, busy - accounted)
    lines.append(
        f"| anything else on the machine | {rest:.1f} | {100 * rest / busy:.0f}% |"
    )
    return lines


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    load = result["load"]
    lines = [
        "# Load: trainees, submissions and verifications at once",
        "",
        f"Run {result['when']}, code {result['code']}, {result['machine']['cpus']} "
        f"CPUs. {result['environment']}.",
        "",
        f"Offered, open loop, for {s['duration']:g} s: {s['users']} signed-in "
        f"trainees (a page each {s['think']:g} s and a quiz each {s['quiz_every']:g} "
        f"s on average: {load['offered_rates']['browse']:.1f} pages/s, "
        f"{load['offered_rates']['quiz']:.2f} quizzes/s), "
        f"{s['submissions_per_minute']:g} submissions a minute, "
        f"{s['verifications_per_second']:g} verifications a second, and "
        f"{s['baseline_per_second']:g}/s each of /healthz and a static file. "
        f"Arrivals sent late by the generator: p99 "
        f"{load['send_lag_p99_ms']} ms; peak requests in flight "
        f"{load['peak_inflight']}.",
        "",
        "| stream | asked /s | due /s | sent | not sent "
        "| send lag p50 / p99 / max ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in load["streams"].items():
        lines.append(
            f"| {name} | {row['rate_asked']} | {row['due_per_second']} | "
            f"{row['sent']} | {row['not_sent']} | {row['send_lag_p50_ms']} / "
            f"{row['send_lag_p99_ms']} / {row['send_lag_max_ms']} |"
        )
    lines += [
        "",
        "Per kind of request (achieved = answered as expected per second; "
        "latencies of those answers):",
        "",
        "| kind | sent /s | achieved /s | sent | errors (status: count) | "
        "p50 ms | p95 ms | p99 ms | p50 ÷ healthz | p95 ÷ healthz |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    kinds = load["kinds"]
    for name in [k for k in ORDER if k in kinds] + sorted(set(kinds) - set(ORDER)):
        row, ratio = kinds[name], load["ratio_to_healthz"].get(name, {})
        errors = ", ".join(f"{k}: {v}" for k, v in row["errors"].items()) or "none"
        if row["not_sent"]:
            errors += f"; not sent: {row['not_sent']}"
        lines.append(
            f"| {name} | {row['offered_per_second']} | {row['achieved_per_second']} | "
            f"{row['offered']} | {errors} | {row['p50_ms']} | {row['p95_ms']} | "
            f"{row['p99_ms']} | {ratio.get('p50_ms')} | {ratio.get('p95_ms')} |"
        )
    idle = result["idle_baseline"]["kinds"]
    lines += [
        "",
        "Baseline alone before the load (same server, same client, "
        f"{s['baseline_seconds']:g} s at {s['idle_baseline_per_second']:g}/s each): "
        + "; ".join(
            f"{name} p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms"
            for name, row in idle.items()
        )
        + ".",
        "",
        f"**5xx answers: {result['server_errors']}**"
        + (" (none: met)." if not result["server_errors"] else " (target: none)."),
        "",
    ]
    for name, row in result["setup_requests"].items():
        if row["errors"]:
            lines += [f"Setup requests ({name}): {row['statuses']}.", ""]
    if result["server_error_log"]:
        lines += ["Errors in the platform's log (first lines):", "", "```"]
        lines += [line[:400] for line in result["server_error_log"]]
        lines += ["```", ""]
    g = result["grading"]
    lines += [
        "## Grading",
        "",
        f"Submissions sent {g['sent']}, accepted {g['accepted']}, **graded "
        f"{g['graded']}**, error {g['error']}, not finished {g['not_finished']} "
        f"(after waiting at most {s['grading_timeout']:g} s past the load); followed "
        f"to the end through the API: {g['seen_through_api']}. Rows in the "
        f"database by state (answers the client did not see included): "
        f"{g['rows_in_database']}.",
        "",
        f"- time to graded (created → graded): p50 {g['time_to_graded_s']['p50']} s, "
        f"p95 {g['time_to_graded_s']['p95']} s, max {g['time_to_graded_s']['max']} s",
        f"- queued → claimed by the worker: p50 {g['queued_to_claimed_s']['p50']} s, "
        f"p95 {g['queued_to_claimed_s']['p95']} s; grading itself p50 "
        f"{g['grading_s']['p50']} s, p95 {g['grading_s']['p95']} s",
        "- by kind of notebook: "
        + "; ".join(
            f"{kind}: " + ", ".join(f"{k} {v}" for k, v in tally.items())
            for kind, tally in g["by_kind"].items()
        ),
    ]
    if g["refused"]:
        lines.append(f"- refused at submission: {dict(g['refused'])}")
    if g["errors"]:
        lines.append(f"- errors: {g['errors']}")
    for title, m in (
        ("CPU during the load", result["cpu"]),
        (
            "CPU after the load, while the last submissions were graded",
            result["cpu_after_the_load"],
        ),
    ):
        lines += cpu_table(title, m)
    return "\n".join(lines) + "\n"


# --- The run --------------------------------------------------------------------------


async def run_load(plan: Plan, args, base: str, platform_pid: int) -> dict[str, Any]:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    recorder = Recorder()
    client = Client(base, recorder)
    rng = random.Random(args.seed)  # noqa: S311 (a reproducible schedule)
    load = Load(plan, client, args, rng)
    try:
        log(f"Signing in {len(plan.trainees)} trainees' CSRF (their first lesson)...")
        for start in range(0, len(plan.trainees), 5):
            await asyncio.gather(
                *(load.csrf_fetch(t) for t in plan.trainees[start : start + 5])
            )
        # Warm-up (not counted): every page, quiz and verification once.
        warm = Load(plan, Client(base, Recorder()), args, random.Random(1))  # noqa: S311
        for kind, paths in plan.pages.items():
            for path in paths:
                await warm.client.request(
                    kind, "GET", path, headers=warm.headers(plan.trainees[0])
                )
        for _ in range(20):
            await asyncio.gather(warm.verify(), warm.healthz(), warm.static())
        await warm.client.close()

        log(f"Baseline alone for {args.baseline_seconds:g} s...")
        idle_recorder = Recorder()
        idle = Load(plan, Client(base, idle_recorder), args, random.Random(2))  # noqa: S311
        await streams_run(
            idle,
            {
                "healthz": (args.idle_baseline_per_second, idle.healthz, True),
                "static": (args.idle_baseline_per_second, idle.static, True),
            },
            seconds=args.baseline_seconds,
        )
        await idle.client.close()

        log(f"Load for {args.duration:g} s...")
        streams = {
            "browse": (len(plan.trainees) / args.think, load.browse, True),
            "quiz": (len(plan.trainees) / args.quiz_every, load.quiz, True),
            "submit": (args.submissions_per_minute / 60, load.submit, False),
            "verify": (args.verifications_per_second, load.verify, True),
            "healthz": (args.baseline_per_second, load.healthz, True),
            "static": (args.baseline_per_second, load.static, True),
        }
        setup = {
            name: kind_summary(name, record, 1.0)
            for name, record in recorder.kinds.items()
        }
        recorder.kinds.clear()  # the CSRF fetches were setup
        meter = Meter(platform_pid).start()
        timing = await streams_run(load, streams, seconds=args.duration)
        cpu = meter.stop()
        log(
            f"Load sent for {timing['sent_for']:.1f} s, answered after "
            f"{timing['drained_after']:.1f} s; following the submissions..."
        )
        kinds = {
            name: kind_summary(name, record, args.duration)
            for name, record in recorder.kinds.items()
        }
        arrivals = {
            name: {
                "rate_asked": round(streams[name][0], 3),
                "due": record.offered,
                "due_per_second": round(record.offered / args.duration, 2),
                "sent": len(record.latencies),
                "not_sent": record.not_sent,
                "send_lag_p50_ms": _ms(percentile(record.lags, 0.5)),
                "send_lag_p99_ms": _ms(percentile(record.lags, 0.99)),
                "send_lag_max_ms": _ms(max(record.lags) if record.lags else None),
            }
            for name, record in recorder.arrivals.items()
        }
        lags = [lag for r in recorder.arrivals.values() for lag in r.lags]
        offered_rates = {name: streams[name][0] for name in streams}
        grading_started = time.monotonic()
        poll_recorder = Recorder()
        poller = Client(base, poll_recorder)
        load.client = poller
        drain = Meter(platform_pid).start()
        try:
            await grading_wait(load, timeout=args.grading_timeout)
        finally:
            cpu_after = drain.stop()
            await poller.close()
        polled = {
            name: kind_summary(name, record, args.duration)
            for name, record in poll_recorder.kinds.items()
        }
        return {
            "load": load,
            "timing": timing,
            "cpu": cpu,
            "cpu_after": cpu_after,
            "kinds": kinds,
            "setup": setup,
            "arrivals": arrivals,
            "polled": polled,
            "lag_p99_ms": _ms(percentile(lags, 0.99)),
            "peak_inflight": recorder.peak_inflight,
            "offered_rates": offered_rates,
            "idle": {
                name: kind_summary(name, record, args.baseline_seconds)
                for name, record in idle_recorder.kinds.items()
            },
            "grading_wait_s": round(time.monotonic() - grading_started, 1),
        }
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:  # noqa: C901
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (300)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--think", type=float, default=10.0, help="mean s between a trainee's pages"
    )
    parser.add_argument(
        "--quiz-every",
        type=float,
        default=60.0,
        help="mean s between a trainee's quizzes",
    )
    parser.add_argument("--submissions-per-minute", type=float, default=20.0)
    parser.add_argument("--verifications-per-second", type=float, default=100.0)
    parser.add_argument("--baseline-per-second", type=float, default=2.0)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--idle-baseline-per-second", type=float, default=10.0)
    parser.add_argument(
        "--workers", type=int, default=3, help="uvicorn (3, as prod-local)"
    )
    parser.add_argument("--no-hub", action="store_true", help="do not start the hub")
    parser.add_argument("--grading-timeout", type=float, default=600.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--max-inflight", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--name", default="load", help="results file name")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).parent))
    from production import (
        environment_summary,
        free_port,
        platform_start,
        platform_stop,
        production_env,
    )

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    var_dir = Path(tempfile.mkdtemp(prefix="bench-load-", dir="/tmp"))  # noqa: S108
    os.environ["WEB_WORKERS"] = str(args.workers)
    os.environ["LOG_LEVEL"] = "WARNING"
    process = None
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            env = stack.enter_context(
                production_env(
                    "load", var_dir=var_dir, hub=not args.no_hub, redis_db=REDIS_DB
                )
            )
            environment = environment_summary(env)
            # Every verification comes from 127.0.0.1: the per-address limit
            # (60/m by default) would refuse nearly all of them.
            os.environ["VERIFY_RATE_LIMIT"] = "100000000/m"
            port = free_port()
            log(f"Starting the platform (prod-local.sh) on port {port}...")
            try:
                process = platform_start(var_dir, port)
                log(f"Ready after {time.monotonic() - started:.0f} s; the plan...")
                django_setup()
                plan = plan_make(users=args.users)
                log(
                    f"{len(plan.trainees)} trainees, {len(plan.quizzes)} quizzes, "
                    f"{len(plan.labs)} labs, {len(plan.credentials)} credentials."
                )
                outcome = asyncio.run(
                    run_load(plan, args, f"http://127.0.0.1:{port}", process.pid)
                )
                grading = grading_summary(outcome["load"])
            finally:
                log("Stopping the platform...")
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                if process is not None:
                    platform_stop(process, var_dir)
                if "django" in sys.modules:
                    with contextlib.suppress(Exception):
                        from django.db import connections

                        connections.close_all()
        # leaving the stack dropped the database and this run's Redis keys
    except KeyboardInterrupt:
        log("Interrupted.")
        return 130
    finally:
        kept = Path(tempfile.gettempdir()) / f"bench-load-platform-{os.getpid()}.log"
        with contextlib.suppress(OSError):
            shutil.copy(var_dir / "platform.log", kept)
            log(f"The platform's log: {kept}")
        shutil.rmtree(var_dir, ignore_errors=True)
    error_lines = errors_logged(kept)

    kinds = outcome["kinds"]
    server_errors = sum(
        row["server_errors"]
        for rows in (kinds, outcome["polled"], outcome["setup"])
        for row in rows.values()
    )
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": git_state(),
        "environment": environment,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            key: getattr(args, key)
            for key in (
                "duration",
                "users",
                "think",
                "quiz_every",
                "submissions_per_minute",
                "verifications_per_second",
                "baseline_per_second",
                "baseline_seconds",
                "idle_baseline_per_second",
                "workers",
                "grading_timeout",
                "max_requests",
                "max_inflight",
                "seed",
            )
        }
        | {"hub": not args.no_hub},
        "load": {
            "timing": outcome["timing"],
            "offered_rates": outcome["offered_rates"],
            "send_lag_p99_ms": outcome["lag_p99_ms"],
            "peak_inflight": outcome["peak_inflight"],
            "streams": outcome["arrivals"],
            "kinds": kinds,
            "ratio_to_healthz": ratios(kinds, "healthz"),
        },
        "idle_baseline": {"kinds": outcome["idle"]},
        "after_the_load": {
            "polls": outcome["polled"],
            "grading_wait_s": outcome["grading_wait_s"],
        },
        "server_errors": server_errors,
        "setup_requests": outcome["setup"],
        "server_error_log": error_lines,
        "grading": grading,
        "cpu": outcome["cpu"],
        "cpu_after_the_load": outcome["cpu_after"],
    }
    text = markdown(result)
    print(text)  # noqa: T201
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.name}.json").write_text(
            json.dumps(result, indent=2, default=str) + "\n"
        )
        (out / f"{args.name}.md").write_text(text)
    failed = server_errors or grading["graded"] != grading["accepted"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
