"""Issuing from results: a met rule issues exactly one certificate, queued after
commit, with the scores and the graded notebooks' hashes; the holder is told live."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from grading import tasks
from grading.credentials import issuing
from grading.credentials.models import Certificate
from grading.credentials.services import certificate_revoke
from grading.credentials.verify import verify_by_id
from lms.routing import websocket_urlpatterns
from tests.grading.credentials.rules_helpers import (
    course_complete,
    first_course,
    lab_graded,
    quiz_lesson,
    quizzes_pass,
    rule_make,
)

ROUTER = URLRouter(websocket_urlpatterns)


@pytest.fixture
def issue_queue(monkeypatch):
    """Certificate tasks queued after commit, recorded instead of sent to the broker."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(issuing, "_queue", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def quiz_rule(programme):
    course, lesson = first_course(programme), quiz_lesson(programme)
    return rule_make(programme, courses=[course], lessons=[lesson], validity_days=365)


def _run(queue):
    """Run the queued tasks in this process, as the worker would."""
    for user_id, programme_id in queue:
        tasks.certificate_issue.apply(args=[user_id, programme_id])


def test_quizzes_and_lessons_issue_exactly_one_certificate(
    programme, trainee, quiz_rule, issue_queue, django_capture_on_commit_callbacks
):
    """The last result that meets the rule queues the task after commit; the task
    issues one certificate with a result per quiz; more results issue nothing."""
    course, lesson = first_course(programme), quiz_lesson(programme)
    with django_capture_on_commit_callbacks(execute=True):
        course_complete(trainee, course)
    assert issue_queue == []  # the quizzes are still missing

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        quizzes_pass(trainee, lesson)
    assert callbacks  # the signal (and then the queueing) waited for the commit
    assert issue_queue == [(trainee.pk, programme.pk)]
    _run(issue_queue)

    certificate = Certificate.objects.get(user=trainee, programme=programme)
    quiz_results = [r for r in certificate.results if r["key"].startswith("quiz-")]
    assert quiz_results and all(r["value"] == 100 for r in quiz_results)
    assert certificate.valid_until - certificate.valid_from == timedelta(days=365)
    assert verify_by_id(certificate.pk).status == "valid"

    issue_queue.clear()
    with django_capture_on_commit_callbacks(execute=True):
        quizzes_pass(trainee, lesson)
    assert issue_queue == []
    _run([(trainee.pk, programme.pk)])  # a duplicate message changes nothing
    assert Certificate.objects.filter(user=trainee).count() == 1


def test_a_rule_not_met_issues_nothing(
    programme, trainee, quiz_rule, issue_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        quizzes_pass(trainee, quiz_lesson(programme), right=False)

    assert issue_queue == []
    assert issuing.certificate_rule_issue(user=trainee, programme=programme) is None
    assert not Certificate.objects.filter(user=trainee).exists()


def test_a_graded_lab_issues_with_its_notebook_as_evidence(
    programme,
    trainee,
    instructor,
    grading_lab,
    issue_queue,
    django_capture_on_commit_callbacks,
):
    """A lab graded below the pass mark issues nothing; the passing attempt does,
    and its notebook's sha256 is the evidence."""
    rule_make(programme, labs=[grading_lab], lab_pass_mark=80)
    with django_capture_on_commit_callbacks(execute=True):
        lab_graded(trainee, grading_lab, points="7", grader=instructor)  # 70%
    assert issue_queue == []

    with django_capture_on_commit_callbacks(execute=True):
        passing = lab_graded(trainee, grading_lab, points="9", grader=instructor)
    assert issue_queue == [(trainee.pk, programme.pk)]
    _run(issue_queue)

    certificate = Certificate.objects.get(user=trainee)
    assert certificate.evidence == [
        {
            "name": "grading-lab/grading-lab.ipynb (attempt 2)",
            "sha256": passing.sha256,
            "genre": "Jupyter notebook",
        }
    ]
    assert certificate.results[0]["value"] == 90
    assert certificate.results[0]["requiredValue"] == 80
    assert certificate.valid_until is None  # the rule sets no validity period


def test_a_revoked_certificate_is_not_issued_again_automatically(
    programme, trainee, instructor, quiz_rule
):
    course, lesson = first_course(programme), quiz_lesson(programme)
    course_complete(trainee, course)
    quizzes_pass(trainee, lesson)
    first = issuing.certificate_rule_issue(user=trainee, programme=programme)
    certificate_revoke(certificate=first, reason="Plagiarism", by=instructor)

    assert issuing.certificate_rule_issue(user=trainee, programme=programme) is None
    assert not issuing.rule_due(user=trainee, programme=programme)


def test_an_expired_certificate_is_earned_again_by_new_results(
    programme, trainee, quiz_rule
):
    """Renewal "earn again": old results do not renew it; a new pass does, and the
    new certificate replaces the expired one."""
    course, lesson = first_course(programme), quiz_lesson(programme)
    course_complete(trainee, course)
    quizzes_pass(trainee, lesson)
    old = issuing.certificate_rule_issue(user=trainee, programme=programme)
    moment = timezone.now() - timedelta(days=1)
    Certificate.objects.filter(pk=old.pk).update(
        issued_at=moment - timedelta(days=365), valid_until=moment
    )
    from courses.models import QuizAttempt

    QuizAttempt.objects.filter(user=trainee).update(
        submitted_at=moment - timedelta(days=365)
    )
    assert issuing.certificate_rule_issue(user=trainee, programme=programme) is None

    quizzes_pass(trainee, lesson)
    new = issuing.certificate_rule_issue(user=trainee, programme=programme)

    assert new.pk != old.pk and new.replaces_id == old.pk
    old.refresh_from_db()
    assert old.revoked_reason == issuing.RENEWED


def test_instructor_renewal_waits_for_the_instructor(programme, trainee, quiz_rule):
    quiz_rule.renewal = "instructor"
    quiz_rule.save()
    course, lesson = first_course(programme), quiz_lesson(programme)
    course_complete(trainee, course)
    quizzes_pass(trainee, lesson)
    old = issuing.certificate_rule_issue(user=trainee, programme=programme)
    Certificate.objects.filter(pk=old.pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )
    quizzes_pass(trainee, lesson)

    assert issuing.certificate_rule_issue(user=trainee, programme=programme) is None


@pytest.fixture
def _keep_the_tests_connection(monkeypatch):
    """See tests/grading/test_consumers.py: the consumer must not close the
    test's own connection, inside the transaction rolled back after the test."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def test_the_holder_is_told_live(
    programme,
    trainee,
    quiz_rule,
    _keep_the_tests_connection,
    django_capture_on_commit_callbacks,
):
    """Issuing pushes a ``certificate`` notice to the holder's open pages."""
    course, lesson = first_course(programme), quiz_lesson(programme)
    course_complete(trainee, course)
    quizzes_pass(trainee, lesson)

    def issue():
        with django_capture_on_commit_callbacks(execute=True):
            return issuing.certificate_rule_issue(user=trainee, programme=programme)

    async def run():
        communicator = WebsocketCommunicator(ROUTER, "/ws/notifications/")
        communicator.scope["user"] = trainee
        connected, _code = await communicator.connect()
        try:
            assert connected
            certificate = await sync_to_async(issue)()
            message = await communicator.receive_json_from(timeout=5)
        finally:
            await communicator.disconnect()
        return certificate, message

    certificate, message = async_to_sync(run)()

    assert message["type"] == "notify"
    assert message["data"]["kind"] == "certificate"
    assert message["data"]["id"] == str(certificate.pk)
    assert message["data"]["url"].endswith(f"/certificates/{certificate.pk}/")
    assert programme.title in message["data"]["text"]
