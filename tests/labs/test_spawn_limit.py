"""The hub's concurrent-spawn limit (429) becomes a clear message with a retry."""

import random
import sys
import threading
import time

import pytest
from django.test import Client

from labs import hub, services
from labs.models import LabSession
from tests.factories import UserFactory
from tests.labs.conftest import start_hub, use_hub

pytestmark = pytest.mark.engine_free


@pytest.fixture(scope="module")
def busy_hub():
    """A hub that lets one server start at a time, each start taking 5 s or more (a
    forked server is ready in a fraction of a second: too soon to see it pending)."""
    slow = (
        "import asyncio\n"
        "async def _slow(spawner):\n"
        "    await asyncio.sleep(5)\n"
        "c.Spawner.pre_spawn_hook = _slow\n"
    )
    yield from start_hub(slow, HUB_CONCURRENT_SPAWN_LIMIT="1")


def test_spawn_limit_is_a_retry_message_not_an_error_page(
    db, settings, busy_hub, tiny_lab
):
    use_hub(settings, busy_hub)
    first, second = (
        UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")
        for _ in range(2)
    )
    name = hub.hub_username(first.pk)
    hub.user_ensure(name)
    # The first spawn takes 5 s; while it is pending, the one slot is taken.
    spawning = threading.Thread(target=hub.server_start, args=(name,))
    spawning.start()
    deadline = time.monotonic() + 10
    while hub.server_status(name).pending != "spawn" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.server_status(name).pending == "spawn"
    with pytest.raises(services.LabError, match="Many labs are starting"):
        services.lab_launch(user=second, lab=tiny_lab)
    client = Client()
    client.force_login(second)
    response = client.post(
        "/en/labs/tiny-lab/launch/", {"next": "/en/dashboard/"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Many labs are starting right now" in page
    spawning.join(timeout=120)
    hub.server_stop(name)


@pytest.fixture(scope="module")
def slow_hub():
    """A hub that gives a server one second to start, and servers that never
    answer: every spawn is too slow (a trainee's real server can now be ready
    within the second on a quiet machine)."""
    never = [sys.executable, "-c", "import time; time.sleep(600)"]
    yield from start_hub(f"c.Spawner.cmd = {never!r}\n", HUB_SPAWN_TIMEOUT="1")


def test_a_spawn_that_fails_or_is_too_slow_is_explained(
    db, settings, slow_hub, tiny_lab
):
    """The trainee is told the lab failed to start (and may retry), never a 500."""
    use_hub(settings, slow_hub)
    learner = UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")
    client = Client()
    client.force_login(learner)
    response = client.post(
        "/en/labs/tiny-lab/launch/", {"next": "/en/dashboard/"}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    # The hub waits for a spawn before answering; one that times out is a 500
    # from the hub, which the trainee sees as a reason and the retry button.
    assert "Your lab server failed to start" in page
    session = LabSession.objects.get(user=learner, lab=tiny_lab)
    assert session.state == LabSession.State.FAILED
    assert "failed to start" in session.last_error
    assert not hub.server_status(hub.hub_username(learner.pk)).ready


@pytest.fixture(scope="module")
def culling_hub():
    """A hub whose idle culler stops servers idle for 6 seconds."""
    yield from start_hub(HUB_IDLE_TIMEOUT="6")


def test_idle_servers_are_culled(db, settings, culling_hub, tiny_lab):
    """jupyterhub-idle-culler runs as a hub service with the configured timeout."""
    use_hub(settings, culling_hub)
    name = hub.hub_username(random.randint(10_000, 10_000_000))
    hub.user_ensure(name)
    hub.server_start(name)
    deadline = time.monotonic() + 60
    while not hub.server_status(name).ready and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hub.server_status(name).ready
    deadline = time.monotonic() + 90
    while hub.server_status(name).exists and time.monotonic() < deadline:
        time.sleep(1)
    assert not hub.server_status(name).exists, "the idle server was not culled"
