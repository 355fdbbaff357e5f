"""Shared fixtures: a real Redis for the suite, seeded content, users by role."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from tests.factories import UserFactory

# Property tests explore new inputs on a developer's machine (failures saved in
# .hypothesis/ and replayed first); CI (CI=true) replays the same examples every
# run, so a landing is never blocked by an input no one has seen yet.
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, print_blob=True
)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session", autouse=True)
def private_redis():
    """Start the suite's own redis-server when REDIS_URL is not given."""
    if not settings.REDIS_IS_PRIVATE:
        redis.Redis.from_url(settings.REDIS_URL).ping()
        yield settings.REDIS_URL
        return
    socket = Path(settings.REDIS_SOCKET)
    socket.parent.mkdir(parents=True, exist_ok=True)
    client = redis.Redis(unix_socket_path=str(socket))
    try:
        client.ping()
        yield settings.REDIS_URL  # already running (another suite on this checkout)
        return
    except redis.ConnectionError:
        pass
    server = shutil.which("redis-server", path=str(Path(sys.executable).parent))
    process = subprocess.Popen(  # noqa: S603
        [
            server,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(socket.parent),
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the private redis-server did not start")
    yield settings.REDIS_URL
    process.terminate()
    process.wait(timeout=10)
    socket.unlink(missing_ok=True)
    shutil.rmtree(socket.with_suffix(".cache"), ignore_errors=True)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache: start every test with none."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """A request in /zh-hans/ leaves Chinese active in the thread: reset it after."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def trainee(db):
    return UserFactory(role="trainee")


@pytest.fixture
def other_trainee(db):
    return UserFactory(role="trainee")


@pytest.fixture
def instructor(db):
    return UserFactory(role="instructor")


@pytest.fixture
def employer(db):
    return UserFactory(role="employer")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Import the real curricula of courses/content/ once, as `seed_demo` does.

    Tests run in transactions rolled back after each, so they all see this content.
    """
    from courses.content_import import curriculum_import

    with django_db_blocker.unblock():
        curriculum_import()


@pytest.fixture
def programme(db):
    from wagtail.models import Locale

    from courses.models import ProgrammePage

    return ProgrammePage.objects.get(
        slug="cross-border-ecommerce", locale=Locale.get_default()
    )


def pytest_addoption(parser):
    parser.addoption(
        "--production",
        action="store_true",
        help="run the tests marked production (the journey against the "
        "production-shaped run, backup and restore): they need PostgreSQL, Redis "
        "and Chromium; .ci/run's third stage passes it",
    )


def pytest_collection_modifyitems(config, items):
    """Run browser tests last: Playwright's sync API keeps an event loop running in
    the main thread for the rest of the session, which async tests cannot share.

    Tests marked production run only with --production: a fresh machine has no
    PostgreSQL, and CI runs them once, in their own stage."""
    if not config.getoption("--production"):
        skip = pytest.mark.skip(
            reason="needs PostgreSQL and Redis: pytest --production (.ci/run)"
        )
        for item in items:
            if item.get_closest_marker("production") is not None:
                item.add_marker(skip)
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is not None,
            item.get_closest_marker("late") is not None,
        )
    )
