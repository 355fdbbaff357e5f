"""Data at scale: pages and the gradebook export on PostgreSQL with 10,000 trainees.

Run from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust):
``.venv/bin/python bench/scale.py --label after``.

One throw-away database (``silkroute_scale_<pid>``, created, migrated in this
process and dropped at exit) is filled in steps, by default to 10% and then to
100% of:

- 100 programmes as live Wagtail pages: the three shipped curricula
  (``curriculum_import``, English and Chinese) and generated ones of 3 courses x 4
  lessons each (``add_child``; a quiz in each course's first lesson, its lab in
  the second), a certificate rule per programme;
- one published ``Lab`` row per generated course, plus the shipped labs' slugs;
- 10,000 trainees (unusable passwords), each enrolled in the flagship programme
  and in 1-3 others, with completed lessons (a random prefix of each
  programme), quiz attempts and submissions: five attempts each at the flagship's
  first lab (the "big lab": 50,000 submissions at 100%), one to three at every
  other lab of their programmes (about 200,000 in all), cell grades for a quarter
  of the graded ones, a lab session each and a few thousand certificates.

After each step (``VACUUM ANALYZE`` first) each page is requested in this process by
``django.test.Client``: once to warm caches, then ``--repeat`` times, counting
queries (``CaptureQueriesContext``) and timing each query and the request.
Trainee pages are seen by a trainee of the first step (their own data does not
change, everything around them grows); instructor pages by an instructor on the
big lab. At the last step the slowest queries of each page are run again under
``EXPLAIN (ANALYZE, BUFFERS)``, recording which scans they use on the big tables,
and the big lab's CSV export is streamed with ``tracemalloc`` and an RSS sampler
running, against the same rows read into a list.

Per page: queries at each step (they must not differ) and time at 100% / time at
10% (bounded: close to 1, not 10). Results merge into ``bench/results/scale.json``
under ``--label`` (``before`` and ``after`` side by side) and ``scale.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER = "postgres://postgres@127.0.0.1:5432"

TRAINEES = 10_000
PROGRAMMES = 100
COURSES, LESSONS = 3, 4
BIG_LAB_ATTEMPTS = 5
CERTIFICATES = 3_000
BATCH = 5_000
# Tables whose size grows with the data: a sequential scan on one of them is
# what the bench looks for.
BIG_TABLES = {
    "grading_submission",
    "grading_cellgrade",
    "grading_certificate",
    "courses_enrolment",
    "courses_quizattempt",
    "courses_lessoncompletion",
    "labs_labsession",
    "accounts_user",
}
BOUNDED_RATIO = 2.0  # the data grows 10x; a bounded page stays well under 2x

_console = sys.stderr


def log(message: str) -> None:
    print(message, file=_console, flush=True)


# --- The database ---------------------------------------------------------------------


def database_create(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(name: str, var_dir: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "DATABASE_URL": f"{SERVER}/{name}",
            "VAR_DIR": str(var_dir),
            "MEDIA_ROOT": str(var_dir / "media"),
            "ALLOWED_HOSTS": "testserver,localhost",
            "CONN_MAX_AGE": "3600",
            "LOG_LEVEL": "WARNING",
        }
    )
    for variable in ("REDIS_URL", "CACHE_KEY_PREFIX"):
        os.environ.pop(variable, None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # Query logging is for the measurements only (CaptureQueriesContext turns it
    # on); with DEBUG it would also keep every bulk INSERT of the generation.
    settings.DEBUG = False


# --- The data -------------------------------------------------------------------------


def _text(words: str) -> str:
    return f"<p>{words}</p>"


def _quiz(rng: random.Random, title: str) -> dict:
    questions = []
    for n in range(3):
        right = rng.randrange(3)
        questions.append(
            {
                "type": "single",
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "value": {
                    "prompt": f"{title}: question {n + 1}?",
                    "choices": [
                        {"text": f"Choice {c}", "correct": c == right} for c in range(3)
                    ],
                    "explanation": "Because.",
                },
            }
        )
    return {"title": title, "pass_mark": 70, "questions": questions}


def _has_tallies() -> bool:
    """Whether the code measured keeps gradebook lines (older commits do not)."""
    import importlib.util

    return importlib.util.find_spec("grading.tallies") is not None


class Data:
    """Grows the database to a fraction of the full size, deterministically."""

    def __init__(self, *, scale: float, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - repeatable data, not secrets
        self.scale = scale
        self.home = None
        self.programmes: list[Any] = []  # canonical ProgrammePage, in order
        self.labs: dict[int, list[Any]] = {}  # programme pk -> labs
        self.lessons: dict[int, list[int]] = {}  # programme pk -> lesson pks
        self.quizzes: dict[int, list[tuple[int, str]]] = {}  # (lesson pk, quiz id)
        self.trainees = 0
        self.certificates = 0
        self.status_list = None
        self.big_lab = None
        self.timings: dict[str, float] = {}

    def _timed(self, name: str, started: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started

    # -- content

    def _structure(self, programme) -> None:
        """Record a programme's lessons, quizzes and labs from its pages."""
        from courses.models import LessonPage
        from labs.models import Lab

        lessons, quizzes, slugs = [], [], []
        for lesson in (
            LessonPage.objects.descendant_of(programme).order_by("path").only("body")
        ):
            lessons.append(lesson.pk)
            for block in lesson.body.raw_data:
                if block["type"] == "quiz":
                    quizzes.append((lesson.pk, block["id"]))
                elif block["type"] == "lab" and block["value"]["lab"] not in slugs:
                    slugs.append(block["value"]["lab"])
        self.lessons[programme.pk] = lessons
        self.quizzes[programme.pk] = quizzes
        labs = {lab.slug: lab for lab in Lab.objects.filter(slug__in=slugs)}
        self.labs[programme.pk] = [labs[slug] for slug in slugs if slug in labs]

    def _lab(self, slug: str, title: str):
        from labs.models import Lab

        lab, _created = Lab.objects.get_or_create(
            slug=slug,
            defaults={
                "title": title,
                "notebook": f"{slug}.ipynb",
                "points": Decimal(10),
                "pass_mark": 70,
                "max_attempts": BIG_LAB_ATTEMPTS,
                "status": Lab.Status.PUBLISHED,
            },
        )
        return lab

    def _shipped(self) -> None:
        """The three shipped curricula, and Lab rows for the labs they name."""
        from courses.content_import import curriculum_import
        from courses.models import CataloguePage, LessonPage, ProgrammePage

        curriculum_import()
        for lesson in LessonPage.objects.all().only("body"):
            for block in lesson.body.raw_data:
                if block["type"] == "lab":
                    self._lab(block["value"]["lab"], block["value"]["lab"])
        self.home = CataloguePage.objects.get(locale__language_code="en")
        for programme in ProgrammePage.objects.child_of(self.home).order_by("path"):
            self._structure(programme)
            self.programmes.append(programme)

    def _generated(self, n: int):
        """Programme ``n``: 3 courses of 4 lessons, a quiz and a lab per course."""
        from courses.models import CoursePage, LessonPage, ProgrammePage

        programme = ProgrammePage(
            title=f"Scale programme {n:03d}",
            slug=f"scale-{n:03d}",
            summary=f"Generated programme {n} for the scale benchmark.",
            body=_text("A generated programme."),
            hours=12,
            locale=self.home.locale,
        )
        self.home.add_child(instance=programme)
        for c in range(1, COURSES + 1):
            course = CoursePage(
                title=f"Course {n:03d}.{c}",
                slug=f"course-{c}",
                summary="Generated.",
                locale=self.home.locale,
            )
            programme.add_child(instance=course)
            lab = self._lab(f"scale-{n:03d}-{c}", f"Lab {n:03d}.{c}")
            for lesson_n in range(1, LESSONS + 1):
                body = [
                    {
                        "type": "text",
                        "value": _text(f"Lesson {lesson_n}."),
                        "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                    }
                ]
                if lesson_n == 1:
                    body.append(
                        {
                            "type": "quiz",
                            "value": _quiz(self.rng, f"Quiz {n:03d}.{c}"),
                            "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                        }
                    )
                if lesson_n == 2:
                    body.append(
                        {
                            "type": "lab",
                            "value": {"lab": lab.slug, "title": ""},
                            "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                        }
                    )
                course.add_child(
                    instance=LessonPage(
                        title=f"Lesson {n:03d}.{c}.{lesson_n}",
                        slug=f"lesson-{lesson_n}",
                        summary="Generated.",
                        body=body,
                        locale=self.home.locale,
                    )
                )
        self._structure(programme)
        return programme

    def _rules(self, programmes) -> None:
        from courses.models import CoursePage, LessonPage
        from grading.models import CertificateRule

        for programme in programmes:
            quiz_lessons = {pk for pk, _id in self.quizzes[programme.pk]}
            rule = CertificateRule(programme=programme)
            rule.courses = list(CoursePage.objects.child_of(programme))
            rule.quiz_lessons = list(LessonPage.objects.filter(pk__in=quiz_lessons))
            rule.labs = self.labs[programme.pk]
            rule.save()

    def programmes_grow(self, count: int) -> None:
        started = time.perf_counter()
        before = len(self.programmes)
        if self.home is None:
            self._shipped()
        while len(self.programmes) < count:
            self.programmes.append(self._generated(len(self.programmes)))
        self._rules(self.programmes[before:])
        if self.big_lab is None:
            # The flagship is the first generated programme; its first lab is big.
            self.big_lab = self.labs[self.programmes[3].pk][0]
        self._timed("pages", started)

    # -- learning records

    def trainees_grow(self, count: int) -> None:
        from django.contrib.auth.hashers import make_password

        from courses.models import Enrolment, LessonCompletion, QuizAttempt
        from grading.models import Certificate, StatusList, Submission
        from labs.models import LabSession
        from lms.accounts.models import User

        rng = self.rng
        started = time.perf_counter()
        first = self.trainees
        unusable = make_password(None)
        users = User.objects.bulk_create(
            [
                User(
                    username=f"trainee{n:05d}",
                    email=f"trainee{n:05d}@example.org",
                    display_name=f"Trainee {n:05d}",
                    password=unusable,
                    role="trainee",
                )
                for n in range(first, count)
            ],
            batch_size=BATCH,
        )
        self._timed("users", started)

        now = datetime.now(UTC)
        flagship = self.programmes[3]
        enrolments, completions, attempts, sessions = [], [], [], []
        submissions: list[Submission] = []
        certified: list[tuple[int, int]] = []
        created_at = Submission._meta.get_field("created_at")
        # Submitted-at times spread over half a year (auto_now_add would stamp
        # every generated row with the same instant).
        created_at.auto_now_add = False
        try:
            for user in users:
                wanted = rng.choice([1, 2, 2, 3, 1, 2])
                others = rng.sample(self.programmes, wanted + 1)
                chosen = [flagship] + [p for p in others if p != flagship][:wanted]
                for programme in chosen:
                    enrolled_at = now - timedelta(days=rng.uniform(5, 200))
                    enrolments.append(
                        Enrolment(
                            user=user, programme=programme, enrolled_at=enrolled_at
                        )
                    )
                    lessons = self.lessons[programme.pk]
                    done = rng.randint(0, len(lessons))
                    completions.extend(
                        LessonCompletion(
                            user=user,
                            lesson_id=pk,
                            completed_at=enrolled_at + timedelta(days=i),
                        )
                        for i, pk in enumerate(lessons[:done])
                    )
                    for lesson_id, quiz_id in self.quizzes[programme.pk]:
                        if rng.random() < 0.6:
                            for _ in range(rng.randint(1, 2)):
                                score = rng.randint(0, 3)
                                attempts.append(
                                    QuizAttempt(
                                        user=user,
                                        lesson_id=lesson_id,
                                        quiz_id=quiz_id,
                                        quiz_title="Quiz",
                                        score=score,
                                        max_score=3,
                                        percent=score * 100 // 3,
                                        passed=score >= 3,
                                        submitted_at=enrolled_at
                                        + timedelta(days=rng.uniform(0, 4)),
                                    )
                                )
                    for lab in self.labs[programme.pk]:
                        tries = (
                            BIG_LAB_ATTEMPTS
                            if lab == self.big_lab
                            else rng.randint(1, 3)
                        )
                        at = enrolled_at + timedelta(days=rng.uniform(0, 4))
                        for attempt in range(1, tries + 1):
                            at += timedelta(hours=rng.uniform(0.1, 30))
                            submissions.append(self._submission(user, lab, attempt, at))
                    if done == len(lessons) and rng.random() < 0.5:
                        certified.append((user.pk, programme.pk))
                sessions.append(
                    LabSession(
                        user=user,
                        lab=self.big_lab,
                        state=LabSession.State.STOPPED,
                        placed_version=1,
                        updated_at=now - timedelta(days=rng.uniform(0, 30)),
                    )
                )
                if len(submissions) >= BATCH:
                    self._submissions_save(submissions)
                    submissions = []
                for model, rows, name in (
                    (Enrolment, enrolments, "enrolments"),
                    (LessonCompletion, completions, "completions"),
                    (QuizAttempt, attempts, "quiz attempts"),
                    (LabSession, sessions, "lab sessions"),
                ):
                    if len(rows) >= BATCH or user is users[-1]:
                        step = time.perf_counter()
                        model.objects.bulk_create(rows, batch_size=BATCH)
                        rows.clear()
                        self._timed(name, step)
            self._submissions_save(submissions)
        finally:
            created_at.auto_now_add = True

        step = time.perf_counter()
        if self.status_list is None:
            self.status_list = StatusList.objects.create(size=131072, bits=bytes(16384))
        target = int(CERTIFICATES * count / TRAINEES) - self.certificates
        chosen_pairs = certified[: max(target, 0)]
        Certificate.objects.bulk_create(
            [
                Certificate(
                    user_id=user_id,
                    programme_id=programme_id,
                    programme_slug="scale",
                    issued_at=now - timedelta(days=rng.uniform(0, 100)),
                    valid_from=now - timedelta(days=100),
                    status_list=self.status_list,
                    status_index=self.certificates + i,
                    credential={"type": ["VerifiableCredential"]},
                    jwt="scale.bench.placeholder",
                    key_id="scale-bench",
                )
                for i, (user_id, programme_id) in enumerate(chosen_pairs)
            ],
            batch_size=BATCH,
        )
        self.certificates += len(chosen_pairs)
        StatusList.objects.filter(pk=self.status_list.pk).update(
            allocated=self.certificates
        )
        self._timed("certificates", step)
        self.trainees = count

    def _submission(self, user, lab, attempt: int, at: datetime):
        from grading.models import Submission

        rng = self.rng
        status = rng.choices(
            ["graded", "error", "queued", "grading"], weights=[94, 3, 2, 1]
        )[0]
        graded = status == "graded"
        score = Decimal(rng.randint(0, 20)) / 2 if graded else None
        return Submission(
            user=user,
            lab=lab,
            attempt=attempt,
            notebook=f"submissions/2026/11/scale-{user.pk}-{lab.pk}-{attempt}.ipynb",
            sha256=hashlib.sha256(f"{user.pk}-{lab.pk}-{attempt}".encode()).hexdigest(),
            size=rng.randint(4_000, 60_000),
            source="lab",
            lab_version=1,
            created_at=at,
            status=status,
            score=score,
            max_score=Decimal(10) if graded else None,
            passed=None if score is None else score >= 7,
            needs_manual_grade=graded and rng.random() < 0.03,
            error="Kernel died." if status == "error" else "",
            queued_at=at,
            grading_started_at=at if status != "queued" else None,
            graded_at=at + timedelta(seconds=5) if graded else None,
            seconds=3.5 if graded else None,
        )

    def _submissions_save(self, submissions: list) -> None:
        from grading.models import CellGrade, Submission

        started = time.perf_counter()
        saved = Submission.objects.bulk_create(submissions, batch_size=BATCH)
        self._timed("submissions", started)
        started = time.perf_counter()
        cells = []
        for submission in saved:
            if submission.status != "graded" or self.rng.random() >= 0.25:
                continue
            for position, (grade_id, kind) in enumerate(
                [
                    ("q1", "auto"),
                    ("q2", "auto"),
                    ("q3-hidden", "auto"),
                    ("q4", "manual"),
                ]
            ):
                cells.append(
                    CellGrade(
                        submission=submission,
                        grade_id=grade_id,
                        position=position,
                        kind=kind,
                        points=Decimal("2.5") if position % 2 else Decimal(0),
                        max_points=Decimal("2.5"),
                        hidden=grade_id.endswith("hidden"),
                        feedback={"outcome": "passed" if position % 2 else "failed"},
                    )
                )
        CellGrade.objects.bulk_create(cells, batch_size=BATCH)
        self._timed("cell grades", started)

    def grow(self, fraction: float) -> dict[str, Any]:
        """Grow to ``fraction`` of the full size; VACUUM ANALYZE (as autovacuum
        leaves a database at rest: statistics and the visibility map that
        index-only scans need); the row counts."""
        from django.db import connection

        self.programmes_grow(max(4, round(PROGRAMMES * self.scale * fraction)))
        self.trainees_grow(round(TRAINEES * self.scale * fraction))
        started = time.perf_counter()
        if _has_tallies():
            # Submissions were bulk-created (no signals): build the gradebook's
            # lines and tallies from them, as the migration does for old data.
            from grading.tallies import tallies_rebuild

            tallies_rebuild()
            self._timed("gradebook lines", started)
            started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        self._timed("vacuum analyze", started)
        return self.counts()

    def counts(self) -> dict[str, int]:
        from wagtail.models import Page

        from courses.models import (
            Enrolment,
            LessonCompletion,
            LessonPage,
            ProgrammePage,
            QuizAttempt,
        )
        from grading.models import CellGrade, Certificate, Submission
        from labs.models import Lab
        from lms.accounts.models import User

        return {
            "pages": Page.objects.count(),
            "programmes": ProgrammePage.objects.child_of(self.home).count(),
            "lessons": LessonPage.objects.count(),
            "labs": Lab.objects.count(),
            "trainees": User.objects.filter(role="trainee").count(),
            "enrolments": Enrolment.objects.count(),
            "lesson_completions": LessonCompletion.objects.count(),
            "quiz_attempts": QuizAttempt.objects.count(),
            "submissions": Submission.objects.count(),
            "big_lab_submissions": Submission.objects.filter(lab=self.big_lab).count(),
            "cell_grades": CellGrade.objects.count(),
            "certificates": Certificate.objects.count(),
        }


# --- Measuring ------------------------------------------------------------------------


class QueryTimer:
    """Times every query precisely (Django's own log rounds to milliseconds)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, float]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.records.append((sql, params, time.perf_counter() - started))


def page_measure(client, url: str, repeat: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(repeat):
        timer = QueryTimer()
        with (
            CaptureQueriesContext(connection) as captured,
            connection.execute_wrapper(timer),
        ):
            started = time.perf_counter()
            response = client.get(url)
            wall = time.perf_counter() - started
        assert response.status_code == 200, (url, response.status_code)
        samples.append(
            {
                "queries": len(captured),
                "db_ms": 1000 * sum(t for _sql, _params, t in timer.records),
                "wall_ms": 1000 * wall,
                "records": timer.records,
            }
        )
    counts = sorted({s["queries"] for s in samples})
    median = sorted(samples, key=lambda s: s["db_ms"])[len(samples) // 2]
    slowest = sorted(median["records"], key=lambda r: -r[2])[:3]
    return {
        "url": url,
        "queries": counts[0] if len(counts) == 1 else counts,
        "db_ms": round(statistics.median(s["db_ms"] for s in samples), 2),
        "wall_ms": round(statistics.median(s["wall_ms"] for s in samples), 2),
        "_slowest": [(sql, params, t) for sql, params, t in slowest],
        "slowest_ms": [round(1000 * t, 2) for _sql, _params, t in slowest],
    }


def _plan_nodes(node: dict, found: list[dict]) -> None:
    entry = {
        "node": node["Node Type"],
        "rows": node.get("Actual Rows"),
        "loops": node.get("Actual Loops"),
    }
    for key, name in (("Relation Name", "relation"), ("Index Name", "index")):
        if key in node:
            entry[name] = node[key]
    found.append(entry)
    for child in node.get("Plans", []):
        _plan_nodes(child, found)


def explain(sql: str, params) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one query: its scans and whether any is a
    sequential scan of a big table."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()[0]
    nodes: list[dict] = []
    _plan_nodes(plan["Plan"], nodes)
    scans = [n for n in nodes if "relation" in n or "index" in n]
    return {
        "sql": sql[:400] + ("…" if len(sql) > 400 else ""),
        "execution_ms": round(plan["Execution Time"], 2),
        "shared_hit": plan["Plan"].get("Shared Hit Blocks"),
        "shared_read": plan["Plan"].get("Shared Read Blocks"),
        "scans": [
            f"{n['node']}"
            + (f" using {n['index']}" if "index" in n else "")
            + (f" on {n['relation']}" if "relation" in n else "")
            + f" (rows {n['rows']} x {n['loops']})"
            for n in scans
        ],
        "big_seq_scans": sorted(
            {
                n["relation"]
                for n in scans
                if n["node"] == "Seq Scan" and n.get("relation") in BIG_TABLES
            }
        ),
    }


class RssSampler:
    """The process's resident memory, sampled every 5 ms while running."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = self.base = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.base


def csv_measure(client, url: str, lab) -> dict[str, Any]:
    """Stream the CSV export: bytes, rows, time, Python and resident memory, and
    whether a server-side cursor is open while it streams; then the same rows
    read into a list, as the cost of not streaming."""
    import gc

    from django.db import connection
    from django.http import StreamingHttpResponse

    from grading import gradebook

    started = time.perf_counter()
    response = client.get(url)
    plain_bytes = sum(len(chunk) for chunk in response.streaming_content)
    plain_seconds = time.perf_counter() - started
    response.close()

    gc.collect()
    response = client.get(url)
    assert isinstance(response, StreamingHttpResponse), type(response)
    size = rows = 0
    cursors = None
    started = time.perf_counter()
    with RssSampler() as rss:
        tracemalloc.start()
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += 1
            if rows == 3:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM pg_cursors")
                    cursors = cursor.fetchone()[0]
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    response.close()

    gc.collect()
    with RssSampler() as listed_rss:
        tracemalloc.start()
        listed = [
            gradebook.gradebook_row(user) for user in gradebook.gradebook_rows(lab=lab)
        ]
        _current, listed_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    count = len(listed)
    del listed
    return {
        "url": url,
        "csv_bytes": size,
        "csv_bytes_plain_pass": plain_bytes,
        "csv_rows": rows - 1,
        "seconds": round(plain_seconds, 2),
        "seconds_under_tracemalloc": round(seconds, 2),
        "server_side_cursors_open_while_streaming": cursors,
        "python_peak_bytes": peak,
        "rss_growth_bytes": rss.growth,
        "listed_rows": count,
        "listed_python_peak_bytes": listed_peak,
        "listed_rss_growth_bytes": listed_rss.growth,
        "peak_over_csv_size": round(peak / size, 3),
    }


def pages_measure(data: Data, trainee, instructor, repeat: int) -> dict[str, Any]:
    from django.test import Client
    from django.urls import reverse
    from django.utils import translation

    from courses.models import CoursePage, LessonPage
    from grading.models import Submission

    flagship = data.programmes[3]
    big = data.big_lab
    quiz_lesson = LessonPage.objects.get(pk=data.quizzes[flagship.pk][0][0])
    detail = (
        Submission.objects.filter(lab=big, status="graded", cells__isnull=False)
        .order_by("pk")
        .first()
    )
    course = CoursePage.objects.child_of(flagship).order_by("path").first()
    with translation.override("en"):
        lab_url = reverse("grading:gradebook_lab", args=[big.slug])
        trainee_pages = {
            "dashboard": "/en/dashboard/",
            "catalogue": "/en/",
            "programme": flagship.url,
            "course": course.url,
            "lesson (quiz + lab)": quiz_lesson.url,
        }
        instructor_pages = {
            "gradebook index": reverse("grading:gradebook_index"),
            "gradebook lab (by name)": lab_url,
            "gradebook lab (by score)": lab_url + "?sort=-score",
            "gradebook lab (cohort, graded)": lab_url
            + f"?cohort={flagship.pk}&status=graded",
            "gradebook lab (page 100)": lab_url + "?page=100",
            "gradebook submission": reverse(
                "grading:gradebook_submission", args=[detail.pk]
            ),
            "cohort (programme)": reverse(
                "courses:cohort_programme", args=[flagship.pk]
            ),
        }
    results = {}
    for who, user, pages in (
        ("trainee", trainee, trainee_pages),
        ("instructor", instructor, instructor_pages),
    ):
        client = Client()
        client.force_login(user)
        for name, url in pages.items():
            results[name] = {"who": who, **page_measure(client, url, repeat)}
            log(
                f"  {name}: {results[name]['queries']} queries, "
                f"db {results[name]['db_ms']} ms, wall {results[name]['wall_ms']} ms"
            )
    return results


# --- Reporting ------------------------------------------------------------------------


def git_state() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "grading", "courses", "lms", "labs")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted" if dirty else "")


def _bytes(value: int) -> str:
    return f"{value / 1_048_576:.1f} MiB"


def markdown(results: dict[str, Any]) -> str:
    labels = list(results["runs"])
    lines = [
        "# Data at scale (PostgreSQL)",
        "",
        "Written by `bench/scale.py`; each run's data is generated the same way "
        "(same seed). Ratio = median time at 100% ÷ at 10% of the data (the data "
        f"grows 10×; bounded means under {BOUNDED_RATIO:g}). Times in ms, "
        "medians of the repeats; db = time in queries.",
        "",
    ]
    for label in labels:
        run = results["runs"][label]
        steps = run["steps"]
        lines += [
            f"## {label}: {run['when']}, code {run['code']}",
            "",
            f"{run['machine']['cpus']} CPUs, PostgreSQL {run['postgres']}, "
            f"{run['settings']['repeat']} repeats per page. The trainee: "
            + ", ".join(f"{k} {v}" for k, v in run["trainee"].items())
            + ". Generation: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in run["generation_s"].items())
            + ".",
            "",
            "| rows | " + " | ".join(s["label"] for s in steps) + " |",
            "|---|" + "---|" * len(steps),
        ]
        for key in steps[-1]["counts"]:
            lines.append(
                f"| {key} | "
                + " | ".join(f"{s['counts'][key]:,}" for s in steps)
                + " |"
            )
        lines += [
            "",
            "| page | who | queries 10% → 100% | db ms 10% → 100% | db ratio "
            "| wall ms 10% → 100% | wall ratio |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in run["pages"].items():
            lines.append(
                f"| {name} | {row['who']} | {row['queries'][0]} → {row['queries'][1]}"
                f" | {row['db_ms'][0]} → {row['db_ms'][1]} | **{row['db_ratio']}**"
                f" | {row['wall_ms'][0]} → {row['wall_ms'][1]} | {row['wall_ratio']} |"
            )
        lines += [
            "",
            "EXPLAIN (ANALYZE, BUFFERS) of each page's slowest queries at 100%:",
            "",
        ]
        for name, plans in run["explain"].items():
            for plan in plans:
                seq = (
                    "**seq scan on " + ", ".join(plan["big_seq_scans"]) + "**"
                    if plan["big_seq_scans"]
                    else "no seq scan on a big table"
                )
                lines.append(
                    f"- {name}: {plan['execution_ms']} ms, {seq}; "
                    + "; ".join(plan["scans"][:6])
                    + ("; …" if len(plan["scans"]) > 6 else "")
                )
        csv_run = run["csv"]
        lines += [
            "",
            f"CSV export of the big lab ({csv_run['csv_rows']:,} rows, "
            f"{_bytes(csv_run['csv_bytes'])}, {csv_run['seconds']} s; "
            f"{csv_run.get('seconds_under_tracemalloc', '–')} s under "
            "tracemalloc): Python peak "
            f"{_bytes(csv_run['python_peak_bytes'])} "
            f"({csv_run['peak_over_csv_size']}× the CSV), RSS growth "
            f"{_bytes(csv_run['rss_growth_bytes'])}, server-side cursors open "
            f"while streaming: {csv_run['server_side_cursors_open_while_streaming']}"
            f". The same rows read into a list: Python peak "
            f"{_bytes(csv_run['listed_python_peak_bytes'])}, RSS growth "
            f"{_bytes(csv_run['listed_rss_growth_bytes'])}.",
            "",
        ]
    return "\n".join(lines) + "\n"


def summarise(steps: list[dict]) -> dict[str, Any]:
    first, last = steps[0]["pages"], steps[-1]["pages"]
    pages = {}
    for name in last:

        def pair(key: str, name: str = name) -> list:
            return [first[name][key], last[name][key]]

        pages[name] = {
            "who": last[name]["who"],
            "queries": pair("queries"),
            "db_ms": pair("db_ms"),
            "wall_ms": pair("wall_ms"),
            "db_ratio": round(last[name]["db_ms"] / max(first[name]["db_ms"], 0.01), 2),
            "wall_ratio": round(
                last[name]["wall_ms"] / max(first[name]["wall_ms"], 0.01), 2
            ),
        }
    return pages


# --- Main -----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from lms.accounts.models import User

    data = Data(scale=args.scale, seed=args.seed)
    instructor = trainee = None
    typical: dict[str, int] = {}
    steps = []
    for fraction in args.steps:
        log(f"growing to {fraction:.0%} of the data")
        started = time.perf_counter()
        counts = data.grow(fraction)
        log(f"  {counts} in {time.perf_counter() - started:.0f} s")
        if instructor is None:
            # Staff: teaches every programme (courses.teaching), so that the pages
            # show what they showed before instructors had assignments.
            instructor = User(username="instructor", role="instructor", is_staff=True)
            instructor.set_unusable_password()
            instructor.save()
            # A trainee of the first step, the middle one by number.
            trainee = User.objects.get(username=f"trainee{data.trainees // 2:05d}")
            typical = {
                "enrolments": trainee.enrolments.count(),
                "lesson_completions": trainee.lesson_completions.count(),
                "quiz_attempts": trainee.quiz_attempts.count(),
                "submissions": trainee.submissions.count(),
                "certificates": trainee.certificates.count(),
            }
            log(f"  trainee {trainee.username}: {typical}")
        pages = pages_measure(data, trainee, instructor, args.repeat)
        steps.append({"label": f"{fraction:.0%}", "counts": counts, "pages": pages})

    log("EXPLAIN of the slowest queries")
    plans = {}
    for name, page in steps[-1]["pages"].items():
        plans[name] = [
            explain(sql, params) for sql, params, _t in page["_slowest"][: args.explain]
        ]
    for step in steps:
        for page in step["pages"].values():
            page.pop("_slowest")

    log("streaming the big lab's CSV")
    from django.test import Client
    from django.urls import reverse
    from django.utils import translation

    client = Client()
    client.force_login(instructor)
    with translation.override("en"):
        url = reverse("grading:gradebook_csv", args=[data.big_lab.slug])
    csv_result = csv_measure(client, url, data.big_lab)
    log(f"  {csv_result}")

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": args.code or git_state(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgres": postgres,
        "settings": {
            "scale": args.scale,
            "steps": args.steps,
            "repeat": args.repeat,
            "seed": args.seed,
        },
        "generation_s": {k: round(v, 1) for k, v in data.timings.items()},
        "trainee": {"username": trainee.username, **typical},
        "steps": steps,
        "pages": summarise(steps),
        "explain": plans,
        "csv": csv_result,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="after", help="key of this run (after)")
    parser.add_argument("--scale", type=float, default=1.0, help="of 10,000 trainees")
    parser.add_argument(
        "--steps",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[0.1, 1.0],
        help="fractions measured, in order (0.1,1.0)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
    parser.add_argument("--explain", type=int, default=2, help="queries per page")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--code", default="", help="what code ran (git describes it)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop it")
    parser.add_argument(
        "--db-name", default="", help="database to create (silkroute_scale_<pid>)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)

    name = args.db_name or f"silkroute_scale_{os.getpid()}"
    var_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    database_create(name)
    log(f"database {name}, VAR_DIR {var_dir}")
    try:
        django_setup(name, var_dir)
        result = run(args)
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if args.keep_db:
            log(f"kept database {name}")
        else:
            database_drop(name)
        shutil.rmtree(var_dir, ignore_errors=True)

    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "scale.json"
        results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
        results["runs"][args.label] = result
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        (out / "scale.md").write_text(markdown(results))
        log(f"wrote {path} and scale.md")
    print(markdown({"runs": {args.label: result}}))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
