"""Grading on real Celery workers: end to end, a worker killed mid-grading, a
duplicated message, a lost message found by the sweeper.

Each test starts ``celery worker`` (prefork, concurrency 2) on the suite's broker and
database, submits through ``services.submission_create`` and waits, with a bound,
for the row to change. The tests commit (the worker is another process), so they
are transactional and run ``late`` (the database is emptied after each). On SQLite,
whose test database is in memory where no other process can open it, each works on
a file copy of that database (see ``shared_db``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from grading import services
from grading.models import Submission
from grading.tasks import submission_autograde
from lms.celery import app
from tests.factories import UserFactory
from tests.grading.conftest import DATA
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

pytestmark = [pytest.mark.late, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 120  # seconds: the bound on any wait for a grading
# A right answer that takes a while: long enough to kill its grading halfway.
SLOW = {**RIGHT, "double": "import time\ntime.sleep(8)\n\n" + RIGHT["double"]}
CGROUPS = Path("/sys/fs/cgroup")
SUCCEEDED = re.compile(r"Task grading\.submission_autograde\[([0-9a-f-]+)\] succeeded")


# --- A real worker ----------------------------------------------------------------


@pytest.fixture
def shared_db(tmp_path) -> Iterator[str]:
    """The test's database where a worker process can open it; its URL.

    PostgreSQL (CI's second run) or SQLite in a file: the test database itself.
    SQLite in memory (the suite's default): a file copy of the migrated, seeded test
    database, to which this process's connection points until the test ends.
    """
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite":
        parts = urlsplit(os.environ["DATABASE_URL"])
        yield urlunsplit(parts._replace(path=f"/{name}"))
        return
    if not connection.is_in_memory_db():
        yield f"sqlite:///{Path(name).resolve()}"
        return
    connection.ensure_connection()
    memory = connection.connection
    copy = tmp_path / "db.sqlite3"
    with contextlib.closing(sqlite3.connect(copy)) as target:
        memory.backup(target)
    connection.connection = None  # the next query opens the copy
    connection.settings_dict["NAME"] = str(copy)
    try:
        yield f"sqlite:///{copy}"
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name
        connection.connection = memory


@dataclass
class Worker:
    process: subprocess.Popen
    name: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pool(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()

    def succeeded(self) -> set[str]:
        """Ids of the grading tasks this worker finished (whatever the service did)."""
        return set(SUCCEEDED.findall(self.output()))

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL to whatever of its group is left."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def worker_start(log_dir: Path, database_url: str, **env: str) -> Worker:
    """`celery worker` (prefork, concurrency 2) on the suite's broker and database;
    returns once it answers a ping."""
    name = f"grading-{uuid.uuid4().hex[:8]}@test"
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lms",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "lms.settings_test",
            "DATABASE_URL": database_url,
            "LABS_SOURCE_DIR": str(DATA),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            **env,
        },
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = Worker(process, name, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if app.control.ping(destination=[name], timeout=1.0):
            return worker
    worker.stop()
    pytest.fail(f"the worker did not start:\n{worker.output()}")


@pytest.fixture
def start_worker(shared_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start workers on demand (with extra environment); all are stopped after."""
    app.control.purge()  # no message left from an earlier test grades our rows
    workers: list[Worker] = []

    def start(**env: str) -> Worker:
        workers.append(worker_start(tmp_path, shared_db, **env))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@dataclass
class DeadJob:
    folder: Path
    processes: list[psutil.Process]


@pytest.fixture
def dead_jobs() -> Iterator[list[DeadJob]]:
    """Gradings a test kills. After it, whatever is left of them goes: processes
    (killed when their uid is next taken, which another grading on this machine
    may have made a different one), the folder and the cgroups (the next grading's
    sweep removes those; this is for a test that failed before it)."""
    jobs: list[DeadJob] = []
    yield jobs
    for job in jobs:
        for process in job.processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(job.processes, timeout=10)
        shutil.rmtree(job.folder, ignore_errors=True)
        for group in CGROUPS.glob(f"*/silkroute-grading/{job.folder.name}"):
            with contextlib.suppress(OSError):
                group.rmdir()


def _dead_job(grader: psutil.Process) -> DeadJob:
    """The sandbox folder (where its kernel's connection file is) and the processes
    of the grading that ``grader`` runs, about to be killed."""
    processes = grader.children(recursive=True)
    for process in processes:
        for arg in process.cmdline():
            if arg.endswith("kernel.json"):
                return DeadJob(Path(arg).parents[1], processes)
    raise AssertionError("no kernel of this grading found")


@pytest.fixture
def lab(shared_db, settings, grading_release):
    """The grading lab of tests/grading/conftest.py (its ``grading_lab`` would open
    a test transaction), with attempts to spare."""
    from labs.models import Lab
    from labs.services import _source_digest, lab_release_dir

    settings.LABS_SOURCE_DIR = DATA
    lab = Lab.objects.create(
        slug="grading-lab",
        title="Grading lab",
        notebook="grading-lab.ipynb",
        data_files=["data/qty.csv"],
        points=5,
        pass_mark=60,
        max_attempts=10,
        source_sha256=_source_digest(
            DATA / "grading-lab", ["grading-lab.ipynb", "data/qty.csv"]
        ),
        status=Lab.Status.PUBLISHED,
    )
    release = lab_release_dir(lab)
    shutil.rmtree(release, ignore_errors=True)
    shutil.copytree(grading_release, release)
    return lab


def _submit(lab, answers: dict[str, str], user=None) -> Submission:
    return services.submission_create(
        user=user or UserFactory(role="trainee"),
        lab=lab,
        data=as_bytes(notebook_with(lab, answers)),
    )


def _wait_for(
    condition: Callable[[], object], what: str, worker: Worker, timeout: float = WAIT
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"waited {timeout:g} s for {what}; worker log:\n{worker.output()}")


def _graded(submission: Submission, worker: Worker) -> Submission:
    def done():
        submission.refresh_from_db()
        return submission.status in ("graded", "error") and submission

    _wait_for(done, f"submission {submission.pk} to be graded", worker)
    assert submission.status == "graded", (submission.error, worker.output())
    return submission


def _grading_in(submission: Submission, worker: Worker) -> psutil.Process:
    """The pool process of ``worker`` grading ``submission``, once its kernel runs."""

    def kernel_running():
        submission.refresh_from_db()
        if submission.status != "grading":
            return None
        pid = int(submission.grader.split(":")[1])
        pool = {p.pid: p for p in worker.pool()}
        if pid not in pool:
            return None
        kernels = [
            p
            for p in pool[pid].children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())
        ]
        return kernels and pool[pid]

    return _wait_for(kernel_running, "the grading's kernel to start", worker)


def _scores(submission: Submission) -> dict[str, float | None]:
    return {
        c.grade_id: None if c.points is None else float(c.points)
        for c in submission.cells.all()
    }


RIGHT_SCORES = {"double_tests": 2.0, "mean_tests": 2.0, "explain": None}


# --- The tests --------------------------------------------------------------------


def test_a_worker_grades_submissions_end_to_end(lab, start_worker):
    """Submitted through the service, queued after commit on the real broker, graded
    by a worker process: a right and a blank notebook get their own scores."""
    worker = start_worker()
    right = _submit(lab, RIGHT)
    blank = _submit(lab, {})

    right, blank = _graded(right, worker), _graded(blank, worker)

    assert _scores(right) == RIGHT_SCORES
    assert right.score == 4 and right.max_score == 5 and right.needs_manual_grade
    # nbgrader scores an answer left as handed out 0 without asking an instructor
    assert _scores(blank) == {"double_tests": 0.0, "mean_tests": 0.0, "explain": 0.0}
    assert blank.score == 0 and blank.passed is False
    assert right.deliveries == blank.deliveries == 1
    assert right.grader == "" and right.seconds > 0


def test_a_pool_process_killed_mid_grading_leaves_one_grade(
    lab, start_worker, dead_jobs
):
    """SIGKILL to the pool process while its kernel runs: the message comes back
    (acks_late, reject_on_worker_lost), the worker's new process takes the grading
    over from the dead one, and the submission is graded once."""
    worker = start_worker()
    submission = _submit(lab, SLOW)
    grader = _grading_in(submission, worker)
    dead_jobs.append(_dead_job(grader))

    grader.send_signal(signal.SIGKILL)
    graded = _graded(submission, worker)

    assert graded.deliveries == 2
    assert graded.grader == ""
    assert graded.cells.count() == 3 and _scores(graded) == RIGHT_SCORES
    assert graded.score == 4
    assert "Process 'ForkPoolWorker" in worker.output()  # the loss was seen...
    assert worker.process.poll() is None  # ...and the worker lived on


def test_a_worker_killed_mid_grading_grades_once_after_restart(
    lab, start_worker, dead_jobs
):
    """The whole worker SIGKILLed while grading: the unacknowledged message is
    restored by the next worker (short visibility timeout here, 900 s in
    production), which takes over the dead grader's submission: graded once."""
    first = start_worker()
    submission = _submit(lab, SLOW)
    grader = _grading_in(submission, first)
    dead_grader = submission.grader
    dead_jobs.append(_dead_job(grader))

    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    submission.refresh_from_db()
    assert submission.status == "grading" and submission.grader == dead_grader
    time.sleep(2)  # the message must be older than the new visibility timeout
    second = start_worker(CELERY_VISIBILITY_TIMEOUT="1")
    graded = _graded(submission, second)

    assert graded.deliveries == 2
    assert graded.cells.count() == 3 and _scores(graded) == RIGHT_SCORES


def test_a_grading_killed_midway_leaves_no_folder_behind(lab, start_worker, dead_jobs):
    """The folder of a killed grading (the trainee's notebook, the lab's source
    with solutions and hidden tests) and its cgroups are gone once the submission
    was graded again."""
    worker = start_worker()
    submission = _submit(lab, SLOW)
    grader = _grading_in(submission, worker)
    dead_jobs.append(_dead_job(grader))

    grader.send_signal(signal.SIGKILL)
    _graded(submission, worker)

    folder = dead_jobs[0].folder
    assert not folder.exists()
    assert not list(CGROUPS.glob(f"*/silkroute-grading/{folder.name}"))


def test_a_duplicated_message_grades_once(lab, start_worker):
    """The same task sent again while the grading runs and after it ended: the
    duplicates finish without grading (one delivery, graded_at and cells unchanged)."""
    worker = start_worker()
    submission = _submit(lab, SLOW)
    _grading_in(submission, worker)
    during = [submission_autograde.delay(submission.pk).id for _ in range(2)]
    graded = _graded(submission, worker)
    first = (graded.graded_at, graded.seconds, list(graded.cells.values_list("pk")))

    after = submission_autograde.delay(submission.pk).id
    _wait_for(
        lambda: {*during, after} <= worker.succeeded(),
        "the duplicate messages to be handled",
        worker,
    )
    graded.refresh_from_db()

    assert graded.deliveries == 1
    assert (graded.graded_at, graded.seconds) == first[:2]
    assert list(graded.cells.values_list("pk")) == first[2]
    assert _scores(graded) == RIGHT_SCORES


def test_the_sweeper_requeues_a_submission_whose_message_was_lost(
    lab, start_worker, monkeypatch
):
    """A submission queued long ago whose message never reached the broker is
    queued again by the sweeper (the beat task's service) and graded."""
    worker = start_worker()
    with monkeypatch.context() as lost:
        lost.setattr(services, "_queue", lambda submission_id: None)
        submission = _submit(lab, RIGHT)
    long_ago = timezone.now() - timedelta(seconds=settings.GRADING_STUCK_AFTER + 60)
    Submission.objects.filter(pk=submission.pk).update(queued_at=long_ago)
    time.sleep(1)
    submission.refresh_from_db()
    assert submission.status == "queued"  # nothing was sent: nothing happened

    assert services.submissions_requeue_stuck() == 1
    graded = _graded(submission, worker)

    assert graded.deliveries == 1 and _scores(graded) == RIGHT_SCORES
    assert services.submissions_requeue_stuck() == 0
