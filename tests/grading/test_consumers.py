"""The live gradebook websocket: only instructors join a lab's group, and they
receive each submission's state change as the services announce it. And what a
page that missed an event relies on: the state over HTTP.

The tests are sync functions that run the websocket through ``async_to_sync``: the
consumer's ``database_sync_to_async`` lookups then run in the test's own thread, on
its connection, inside its transaction, so the rolled-back fixtures are visible and
no transactional (database-emptying) test is needed.
"""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from grading import services
from grading.models import Submission
from lms.routing import websocket_urlpatterns
from tests.factories import UserFactory
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

ROUTER = URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
def _keep_the_tests_connection(monkeypatch):
    """channels closes "old" connections around each ``database_sync_to_async``
    call, as a server should between events. Here that connection is the test's
    own, inside the transaction rolled back after the test: closing it would end
    the test's transaction, so it stays open."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def _connect(user, slug: str = "grading-lab") -> tuple[bool, int | None]:
    async def run():
        communicator = WebsocketCommunicator(ROUTER, f"/ws/gradebook/{slug}/")
        communicator.scope["user"] = user
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    return async_to_sync(run)()


def test_anonymous_users_are_rejected(grading_lab):
    """An anonymous connection is closed with 4401 before joining any group."""
    assert _connect(AnonymousUser()) == (False, 4401)


@pytest.mark.parametrize("role", ["trainee", "employer"])
def test_other_roles_are_rejected(grading_lab, role):
    """Trainees and employers are closed with 4403: the gradebook is not theirs."""
    assert _connect(UserFactory(role=role)) == (False, 4403)


def test_an_unknown_lab_is_rejected(instructor):
    """A slug that names no lab is closed with 4404."""
    assert _connect(instructor, "no-such-lab") == (False, 4404)


def test_a_lab_the_instructor_does_not_teach_is_rejected(grading_lab, programme):
    """An instructor of another programme, or of none, is closed with 4404 as for
    an unknown lab (the gradebook's pages answer 404): they never join its group,
    while the lab's own instructor is accepted."""
    from courses.models import ProgrammePage
    from tests.courses.helpers import teacher_of

    elsewhere = (
        ProgrammePage.objects.filter(locale=programme.locale)
        .exclude(pk=programme.pk)
        .first()
    )

    assert _connect(teacher_of(elsewhere)) == (False, 4404)
    assert _connect(UserFactory(role="instructor")) == (False, 4404)
    assert _connect(teacher_of(programme)) == (True, None)


def test_instructors_and_superusers_connect(grading_lab, instructor):
    """Instructors and superusers are accepted."""
    admin = UserFactory(role="trainee", is_superuser=True)

    assert _connect(instructor)[0] is True
    assert _connect(admin)[0] is True


def test_an_instructor_receives_a_submissions_state_change(
    grading_lab, instructor, trainee, queued, django_capture_on_commit_callbacks
):
    """A regrade announced after commit reaches the open gradebook socket as a
    ``submission`` message with the submission's new state."""
    submission = Submission.objects.create(
        user=trainee,
        lab=grading_lab,
        attempt=1,
        notebook="submissions/test.ipynb",
        sha256="0" * 64,
        size=1,
        source=Submission.Source.UPLOAD,
        lab_version=1,
        status=Submission.Status.GRADED,
    )

    def regrade() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            services.submission_regrade(submission=submission)

    async def run():
        communicator = WebsocketCommunicator(ROUTER, "/ws/gradebook/grading-lab/")
        communicator.scope["user"] = instructor
        connected, _code = await communicator.connect()
        assert connected
        await sync_to_async(regrade)()
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    message = async_to_sync(run)()

    assert message["type"] == "submission"
    assert message["data"] == {
        "kind": "submission",
        "id": submission.pk,
        "lab": "grading-lab",
        "attempt": 1,
        "status": "queued",
        "score": None,
        "max_score": None,
        "passed": None,
        "needs_manual_grade": False,
        "user": trainee.pk,
    }
    assert queued == [submission.pk]


def test_events_of_other_labs_do_not_arrive(grading_lab, instructor):
    """The socket joins only its own lab's group: another lab's event is not
    delivered, its own is."""

    async def run():
        communicator = WebsocketCommunicator(ROUTER, "/ws/gradebook/grading-lab/")
        communicator.scope["user"] = instructor
        connected, _code = await communicator.connect()
        assert connected
        layer = get_channel_layer()
        for lab_id, marker in (
            (grading_lab.pk + 1000, "other"),
            (grading_lab.pk, "own"),
        ):
            await layer.group_send(
                services.gradebook_group(lab_id),
                {"type": "submission", "data": {"marker": marker}},
            )
        message = await communicator.receive_json_from(timeout=5)
        nothing_else = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return message, nothing_else

    message, nothing_else = async_to_sync(run)()

    assert message == {"type": "submission", "data": {"marker": "own"}}
    assert nothing_else


def test_a_grade_missed_by_a_closed_socket_is_fetched_over_http(
    client, grading_lab, trainee, queued, django_capture_on_commit_callbacks
):
    """Events are not stored: a trainee's socket closed while the submission is
    graded gets nothing when it opens again (another socket, open all along, got
    the grade). The API and the submission's live part, which the page fetches when
    its socket opens, answer the final state."""
    submission = services.submission_create(
        user=trainee,
        lab=grading_lab,
        data=as_bytes(notebook_with(grading_lab, RIGHT)),
    )

    def grade() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            services.submission_autograde(submission_id=submission.pk)

    async def socket() -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(ROUTER, "/ws/notifications/")
        communicator.scope["user"] = trainee
        connected, _code = await communicator.connect()
        assert connected
        return communicator

    async def run():
        open_all_along, closed = await socket(), await socket()
        await closed.disconnect()  # the tab is closed, or the network drops
        await sync_to_async(grade)()
        seen = [await open_all_along.receive_json_from(timeout=5) for _ in "12"]
        reopened = await socket()
        missed = await reopened.receive_nothing(timeout=0.5)
        await open_all_along.disconnect()
        await reopened.disconnect()
        return seen, missed

    seen, missed = async_to_sync(run)()

    assert [(m["data"]["id"], m["data"]["status"]) for m in seen] == [
        (submission.pk, "grading"),
        (submission.pk, "graded"),
    ]
    assert missed
    client.force_login(trainee)
    body = client.get(f"/api/v1/submissions/{submission.pk}").json()
    assert (body["status"], body["score"], body["max_score"]) == ("graded", 4.0, 5.0)
    html = client.get(f"/en/grading/submissions/{submission.pk}/part/").content.decode()
    assert 'data-status-text="Graded"' in html and "4/5" in html
    assert "data-pending" not in html
