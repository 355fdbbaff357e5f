"""The staff queue page: who may see it, what it counts (submissions, the broker's
queues, the workers and their tasks), and that a broker that is down is a message
on the page, never an error page."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from grading.models import Submission
from labs.models import Lab
from lms import ops
from lms.celery import app
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def staff(db):
    return UserFactory(role="trainee", is_staff=True)


@pytest.fixture
def url():
    return reverse("ops_queues")


@pytest.fixture
def submissions(db, trainee):
    """Two queued (the oldest two hours ago), one grading, one error from an hour
    ago and one from three days ago."""
    lab = Lab.objects.create(
        slug="ops-lab", title="Ops lab", notebook="ops.ipynb", points=1
    )
    now = timezone.now()
    rows = [
        (Submission.Status.QUEUED, now - timedelta(hours=2), None),
        (Submission.Status.QUEUED, now - timedelta(minutes=1), None),
        (Submission.Status.GRADING, now - timedelta(minutes=5), now),
        (Submission.Status.ERROR, now - timedelta(hours=1), now - timedelta(hours=1)),
        (Submission.Status.ERROR, now - timedelta(days=3), now - timedelta(days=3)),
    ]
    for attempt, (status, queued_at, started) in enumerate(rows, start=1):
        Submission.objects.create(
            user=trainee,
            lab=lab,
            attempt=attempt,
            notebook=f"submissions/ops-{attempt}.ipynb",
            sha256="0" * 64,
            size=1,
            source=Submission.Source.UPLOAD,
            lab_version=1,
            status=status,
            queued_at=queued_at,
            grading_started_at=started,
        )


def test_anonymous_goes_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", ["trainee", "instructor", "employer"])
def test_non_staff_are_refused(db, client, url, role):
    """Trainees, and instructors and employers who are not staff: 403."""
    client.force_login(UserFactory(role=role))
    assert client.get(url).status_code == 403


def test_staff_see_counts_queues_and_no_worker(client, url, staff, submissions):
    """Staff get the page: submissions by state, the default queue, and (no worker
    runs in this test) the empty state."""
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    overview = response.context["ops"]
    assert overview.broker_error is None
    assert overview.submissions.queued == 2
    assert overview.submissions.grading == 1
    assert overview.submissions.errors_recent == 1
    assert 7190 <= overview.submissions.oldest_queued_seconds <= 7300
    assert [q.name for q in overview.queues] == [app.conf.task_default_queue]
    assert isinstance(overview.queues[0].waiting, int)
    content = response.content.decode()
    assert "Queues and workers" in content
    assert "Errors in the last 24 hours" in content
    if settings.REDIS_IS_PRIVATE:  # a shared Redis may have other suites' workers
        assert overview.workers == []
        assert "No worker answered" in content


def test_superusers_get_in(db, client, url):
    client.force_login(UserFactory(role="trainee", is_superuser=True))
    assert client.get(url).status_code == 200


def test_the_page_is_in_chinese_too(client, staff):
    client.force_login(staff)
    response = client.get("/zh-hans/ops/queues/")
    assert response.status_code == 200
    assert "队列与工作进程" in response.content.decode()


def test_a_broker_that_is_down_is_a_message_not_an_error(
    client, url, staff, submissions, monkeypatch
):
    """Broker unreachable: 200, the message, the database's counts still shown.

    The page asks an app of its own whose broker is dead: changing the project's
    app would leave its connection pools pointing at the dead broker for every
    later test (the worker tests failed so)."""
    dead = Celery("ops-dead", broker=DEAD_BROKER, set_as_current=False)
    real_overview = ops.ops_overview
    monkeypatch.setattr(
        ops, "ops_overview", lambda **kwargs: real_overview(app=dead, **kwargs)
    )
    client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    overview = response.context["ops"]
    assert overview.broker_error
    assert overview.queues == []
    assert overview.submissions.queued == 2
    content = response.content.decode()
    assert "The task broker cannot be reached" in content
    assert "No worker answered" not in content


def test_the_admin_menu_links_staff_to_the_page(client, staff, url):
    """The Wagtail admin menu has the entry for staff (who may use the admin)."""
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert url in response.content.decode()


def test_a_worker_its_running_task_and_the_backlog_are_reported(db):
    """A real worker runs a slow task with two more behind it: the worker answers,
    its running task is listed with name, id and runtime, and the two others are
    reserved by it or waiting in the queue. (The thread pool: a solo worker
    answers no control message while its task runs.)"""
    queue = f"test-ops-{uuid.uuid4().hex[:8]}"
    name = f"{queue}@test"
    probe = Celery("ops-probe", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    probe.conf.task_default_queue = queue
    probe.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    worker = subprocess.Popen(  # noqa: S603
        [
            *(sys.executable, "-m", "celery", "-A", "lms", "worker"),
            *("--pool", "threads", "--concurrency", "1"),
            *("--without-gossip", "--without-mingle"),
            *("--include", "tests.lms.ops_tasks", "-n", name, "-Q", queue),
            *("--loglevel", "WARNING"),
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "lms.settings_test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        running = probe.send_task("tests.ops_sleep", args=[10])
        probe.send_task("tests.ops_sleep", args=[0])
        probe.send_task("tests.ops_sleep", args=[0])
        deadline = time.monotonic() + 60
        overview = None
        while time.monotonic() < deadline and worker.poll() is None:
            overview = ops.ops_overview(app=probe)
            mine = [w for w in overview.workers if w.name == name]
            if mine and mine[0].active:
                break
        assert worker.poll() is None, worker.stdout.read().decode()
        assert overview is not None and overview.broker_error is None
        (state,) = [w for w in overview.workers if w.name == name]
        (task,) = state.active
        assert task.name == "tests.ops_sleep"
        assert task.id == running.id
        assert task.runtime_seconds is not None and 0 <= task.runtime_seconds < 30
        (depth,) = overview.queues
        assert depth.name == queue
        assert depth.waiting + state.reserved == 2
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.Redis.from_url(settings.REDIS_URL).delete(
            queue, f"_kombu.binding.{queue}"
        )


def test_queue_names_include_routed_and_declared_queues():
    """Queues named by task_routes or task_queues are listed beside the default."""
    from kombu import Queue

    probe = Celery("ops-names", broker=DEAD_BROKER, set_as_current=False)
    probe.conf.task_routes = {"grading.*": {"queue": "grading"}}
    probe.conf.task_queues = [Queue("certificates")]
    assert ops.queue_names(probe) == ["celery", "certificates", "grading"]
