"""PostgreSQL stopped for 10 s (issue 9): requests get a clear 503 meanwhile, a
grading caught by the outage retries and ends graded once, and afterwards
everything works again without restarting a process.

The cluster is the platform's own; ``pg_ctl stop -m fast`` cuts the open
connections of the web process and the worker, which both stay up.
"""

import time

import pytest

from tests.faults.conftest import USERS, api_token, sign_in, wait_for
from tests.grading.helpers import RIGHT

pytestmark = pytest.mark.production

USER = USERS[2]
OUTAGE = 10  # seconds
# Right answers that take a few seconds: the grading is under way when the
# database goes, and its results are due while it is away.
SLOWISH = {**RIGHT, "double": "import time\ntime.sleep(4)\n\n" + RIGHT["double"]}


def test_a_postgres_outage_answers_503_and_grading_resumes(platform, workers):
    """Stopped mid-grading for 10 s: the dashboard answers a 503 page and the API
    a 503 JSON, each with Retry-After and no traceback, while /healthz stays up
    and /readyz reports the database. After the restart the same processes answer
    again (the same session, the same token) and the submission, retried by its
    task, is graded once."""
    worker = workers()
    with platform.client() as client:
        assert sign_in(client, USER).status_code == 302
        token = api_token(client, USER)
        pk = platform.submit(client, token, platform.notebook(SLOWISH))
        bearer = {"Authorization": f"Bearer {token}"}
        wait_for(lambda: platform.submission(pk)["status"] == "grading", "grading")

        platform.postgres.stop()
        stopped = time.monotonic()
        try:
            page = client.get("/en/dashboard/")
            api = client.get(f"/api/v1/submissions/{pk}", headers=bearer)
            with platform.client() as probe:  # a probe: no session cookie
                health, ready = probe.get("/healthz"), probe.get("/readyz")
            zh_page = client.get("/zh-hans/dashboard/")
        finally:
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
            platform.postgres.start()

        assert page.status_code == 503, page.text
        assert page.headers["Retry-After"] == "10"
        assert "cannot reach its database" in page.text
        assert "Traceback" not in page.text and "OperationalError" not in page.text
        assert api.status_code == 503
        assert api.headers["Retry-After"] == "10"
        assert "cannot reach its database" in api.json()["detail"]
        assert zh_page.status_code == 503 and "数据库" in zh_page.text
        assert health.status_code == 200
        assert ready.status_code == 503 and ready.json()["checks"]["database"] != "ok"

        assert client.get("/en/dashboard/").status_code == 200
        again = client.get(f"/api/v1/submissions/{pk}", headers=bearer)
        assert again.status_code == 200, again.text

    graded = platform.graded(pk, worker)
    assert graded["cells"] == 3 and graded["score"] == 4 and graded["grader"] == ""
    assert [s["id"] for s in platform.submissions(USER)] == [pk]
    assert "the database failed" in worker.output()
    assert "answered 503" in platform.web_log.read_text()
