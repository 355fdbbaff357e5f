"""Redis restarted mid-run (issue 9): the site keeps answering, a submission made
while Redis is down is stored and graded once Redis is back, live updates resume.

Redis is the platform's own (SHUTDOWN NOSAVE: the queue, the channel groups and
the cache go with it), under a web process and a worker that stay up throughout.
"""

import asyncio
import threading

import pytest
from celery import Celery
from channels_redis.core import RedisChannelLayer

from tests.faults.conftest import USERS, api_token, csrf_token, sign_in
from tests.grading.helpers import RIGHT

pytestmark = pytest.mark.production

USER = USERS[1]


class Listener(threading.Thread):
    """A page's live connection: the user's channel group on the platform's
    channel layer, collecting what arrives until ``until`` says it is enough."""

    def __init__(self, redis_url: str, group: str, until) -> None:
        super().__init__(daemon=True)
        self.redis_url, self.group, self.until = redis_url, group, until
        self.events: list[dict] = []
        self.joined = threading.Event()

    def run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        layer = RedisChannelLayer(
            hosts=[{"address": self.redis_url, "socket_timeout": None}],
            prefix="lms-test",
        )
        channel = await layer.new_channel()
        await layer.group_add(self.group, channel)
        self.joined.set()
        while not self.until(self.events):
            message = await asyncio.wait_for(layer.receive(channel), timeout=180)
            self.events.append(message["data"])
        await layer.flush()


def test_a_redis_restart_loses_nothing_and_the_site_keeps_answering(platform, workers):
    """While Redis is down: signing in works (the throttle fails open), pages
    answer, a submission by the page and one by the API are stored and acknowledged
    (their message unsent, logged, no 500), /readyz says the broker is down. Once
    Redis is back, the sweep (beat's task, sent as beat sends it) queues both, the
    same worker grades each once, and the trainee's live updates arrive again."""
    worker = workers()
    page_url = f"/en/grading/labs/{platform.lab}/submissions/"
    data = platform.notebook(RIGHT)

    platform.redis.stop()
    with platform.client() as client:
        assert sign_in(client, USER).status_code == 302
        assert client.get("/en/dashboard/").status_code == 200
        by_page = client.post(
            page_url,
            data={"csrfmiddlewaretoken": csrf_token(client, page_url)},
            files={"notebook": ("lab.ipynb", data)},
        )
        assert by_page.status_code == 302, by_page.text
        assert client.get(by_page.headers["Location"]).status_code == 200
        by_api = platform.submit(client, api_token(client, USER), data)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"

    stored = platform.submissions(USER)
    assert [(s["status"], s["unsent"]) for s in stored] == [("queued", True)] * 2
    assert stored[1]["id"] == by_api
    assert platform.web_log.read_text().count("stored but not queued") == 2

    platform.redis.start()
    user_id = platform.sql("SELECT id FROM accounts_user WHERE username = %s", [USER])
    ids = {s["id"] for s in stored}

    def all_graded(events: list[dict]) -> bool:
        return {e.get("id") for e in events if e.get("status") == "graded"} >= ids

    listener = Listener(platform.redis.url, f"user-{user_id[0][0]}", all_graded)
    listener.start()
    assert listener.joined.wait(30)
    Celery(broker=platform.redis.url).send_task("grading.submissions_requeue_stuck")

    graded = [platform.graded(pk, worker) for pk in sorted(ids)]
    listener.join(timeout=60)

    assert all(g["deliveries"] == 1 and g["cells"] == 3 for g in graded)
    assert all(g["score"] == 4 and not g["unsent"] for g in graded)
    assert "Re-queued 2 stuck submissions" in worker.output()
    assert all_graded(listener.events), listener.events
    with platform.client() as client:
        assert sign_in(client, USER).status_code == 302
        assert client.get("/readyz").status_code == 200
