"""The Celery app runs a real worker on the embedded (or given) broker."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from lms.celery import app

ROOT = Path(__file__).resolve().parents[2]


def test_celery_reads_its_broker_from_settings():
    """lms/celery.py takes CELERY_* from Django settings."""
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_serializer == "json"


def test_a_worker_process_answers_on_the_broker():
    """A `celery worker` started from the project answers a control ping."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lms.settings_test"}
    name = f"ping-{os.getpid()}@test"
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lms",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "-n",
            name,
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        replies = []
        deadline = time.monotonic() + 60
        while not replies and time.monotonic() < deadline and worker.poll() is None:
            replies = app.control.ping(destination=[name], timeout=1.0)
        assert worker.poll() is None, worker.stdout.read().decode()
        assert replies == [{name: {"ok": "pong"}}]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
