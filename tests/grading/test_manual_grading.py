"""One submission for the instructor: its cells, manual grading of free-response
cells, regrading one submission, the submitted notebook as a download."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse
from django.utils import translation

from grading import services
from grading.models import Submission
from lms.accounts.events import user_group
from tests.factories import UserFactory
from tests.grading.helpers import RIGHT, as_bytes, notebook_with


def _url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(f"grading:{name}", args=args)


@pytest.fixture
def submitted(grading_lab, trainee, queued) -> tuple[Submission, bytes]:
    """A right notebook, stored and queued (not graded yet), and its bytes."""
    data = as_bytes(notebook_with(grading_lab, RIGHT))
    return services.submission_create(user=trainee, lab=grading_lab, data=data), data


@pytest.fixture
def graded(submitted) -> Submission:
    """The right notebook really graded: 4 of 5 points, the manual cell "explain"
    (1 point) waiting for an instructor."""
    submission, _data = submitted
    return services.submission_autograde(submission_id=submission.pk)


def _manual_cell(submission: Submission):
    return submission.cells.get(kind="manual")


def _grade_post(submission: Submission, points, comment="Well argued."):
    cell = _manual_cell(submission)
    return {
        f"cell-{cell.pk}-grade_id": cell.grade_id,
        f"cell-{cell.pk}-points": str(points),
        f"cell-{cell.pk}-comment": comment,
    }


# --- The page -------------------------------------------------------------------------


def test_submission_page_shows_cells_points_feedback_and_the_manual_form(
    client, instructor, graded
):
    """The page lists each graded cell with its points and outcome, and a labelled
    points field with the cell's limits for the manual cell."""
    client.force_login(instructor)
    cell = _manual_cell(graded)

    response = client.get(_url("gradebook_submission", graded.pk))

    html = response.content.decode()
    assert response.status_code == 200
    for grade_id in ("double_tests", "mean_tests", "explain"):
        assert grade_id in html
    assert "Waiting for an instructor to grade it" in html
    points_id = f"id_cell-{cell.pk}-points"
    assert f'<label for="{points_id}">' in html
    assert f'id="{points_id}"' in html
    assert f'min="0" max="{cell.max_points.normalize():f}"' in html
    assert _url("gradebook_submission_notebook", graded.pk) in html
    assert _url("gradebook_submission_regrade", graded.pk) in html


def test_an_errored_submission_shows_its_error(client, instructor, submitted):
    """For status error the page shows the reason grading failed."""
    submission, _data = submitted
    Submission.objects.filter(pk=submission.pk).update(
        status="error", error="Grading could not run: sandbox unavailable"
    )
    client.force_login(instructor)

    html = client.get(_url("gradebook_submission", submission.pk)).content.decode()

    assert "Grading failed" in html
    assert "Grading could not run: sandbox unavailable" in html


@pytest.mark.parametrize("role", ["trainee", "employer"])
def test_only_instructors_see_a_submission(client, submitted, role):
    """Other roles, the submitter included, get 403 on the instructor's pages."""
    submission, _data = submitted
    user = submission.user if role == "trainee" else UserFactory(role=role)
    client.force_login(user)

    for name in ("gradebook_submission", "gradebook_submission_notebook"):
        assert client.get(_url(name, submission.pk)).status_code == 403
    regrade = client.post(_url("gradebook_submission_regrade", submission.pk))
    assert regrade.status_code == 403


def test_anonymous_visitors_are_sent_to_login(client, submitted):
    submission, _data = submitted

    response = client.get(_url("gradebook_submission", submission.pk))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_notebook_downloads_exactly_as_submitted(client, instructor, submitted):
    """The instructor downloads the stored notebook as an attachment, byte for
    byte."""
    submission, data = submitted
    client.force_login(instructor)

    response = client.get(_url("gradebook_submission_notebook", submission.pk))

    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"grading-lab-{submission.user.username}-attempt1.ipynb" in disposition
    assert b"".join(response.streaming_content) == data


# --- Manual grading -------------------------------------------------------------------


def test_manual_grade_updates_the_total_and_tells_the_trainee(
    client, instructor, graded, django_capture_on_commit_callbacks
):
    """Grading the manual cell adds its points to the total, decides pass or fail,
    records who graded it, and the trainee's open pages hear about it."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(graded.user_id), channel)
    cell = _manual_cell(graded)
    client.force_login(instructor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url("gradebook_submission", graded.pk),
            _grade_post(graded, cell.max_points),
        )

    assert response.status_code == 302
    graded.refresh_from_db()
    cell.refresh_from_db()
    assert graded.score == graded.max_score == Decimal(5)
    assert graded.passed is True and not graded.needs_manual_grade
    assert (cell.comment, cell.graded_by) == ("Well argued.", instructor)
    kinds = []
    for _ in range(5):
        event = async_to_sync(layer.receive)(channel)
        kinds.append(event["data"]["kind"])
        if event["data"]["kind"] == "manual_grade":
            break
    assert event["type"] == "notify"
    assert event["data"]["score"] == 5.0 and event["data"]["passed"] is True
    page = client.get(response["Location"]).content.decode()
    assert "Saved 1 of 1 points for “explain”." in page


def test_a_low_manual_grade_can_fail_the_submission(client, instructor, graded):
    """Zero points for the manual cell still decides the submission: 4 of 5 is 80%,
    above the lab's 60% pass mark, and nothing awaits manual grading any more."""
    client.force_login(instructor)

    client.post(_url("gradebook_submission", graded.pk), _grade_post(graded, 0))

    graded.refresh_from_db()
    assert graded.score == Decimal(4) and graded.max_score == Decimal(5)
    assert graded.passed is True and not graded.needs_manual_grade


@pytest.mark.parametrize("points", ["-1", "1.5", "abc", ""])
def test_points_out_of_range_are_refused_with_an_error(
    client, instructor, graded, points
):
    """Points below 0, above the cell's maximum or not a number are refused: the
    page answers 400 with the error next to the field, and nothing is saved."""
    client.force_login(instructor)
    cell = _manual_cell(graded)

    response = client.post(
        _url("gradebook_submission", graded.pk), _grade_post(graded, points)
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert f'aria-describedby="id_cell-{cell.pk}-points-errors"' in html
    assert 'class="errorlist"' in html
    cell.refresh_from_db()
    assert cell.points is None and cell.graded_by is None


def test_the_service_refuses_points_out_of_range(graded, instructor):
    """submission_grade_manual itself rejects points above the cell's maximum."""
    cell = _manual_cell(graded)

    with pytest.raises(services.SubmissionError):
        services.submission_grade_manual(
            submission=graded,
            grade_id=cell.grade_id,
            points=cell.max_points + 1,
            comment="",
            grader=instructor,
        )


def test_a_submission_not_graded_yet_cannot_be_graded_by_hand(
    client, instructor, submitted
):
    """Before autograding there are no cells to grade: no form, and the page says
    so."""
    submission, _data = submitted
    client.force_login(instructor)

    html = client.get(_url("gradebook_submission", submission.pk)).content.decode()

    assert "No graded cells yet" in html
    assert "Save grade" not in html


# --- Regrading one submission ---------------------------------------------------------


def test_regrade_queues_again_and_keeps_the_manual_grade(
    client, instructor, graded, queued, django_capture_on_commit_callbacks
):
    """ "Regrade" queues the submission again; when it is graded again the manual
    grade and comment are still there and the total includes them."""
    client.force_login(instructor)
    client.post(_url("gradebook_submission", graded.pk), _grade_post(graded, "0.5"))
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url("gradebook_submission_regrade", graded.pk), follow=True
        )

    assert queued == [graded.pk]
    graded.refresh_from_db()
    assert graded.status == "queued"
    assert "Queued for regrading" in response.content.decode()
    regraded = services.submission_autograde(submission_id=graded.pk)
    cell = _manual_cell(regraded)
    assert (cell.points, cell.comment, cell.graded_by) == (
        Decimal("0.5"),
        "Well argued.",
        instructor,
    )
    assert regraded.score == Decimal("4.5") and not regraded.needs_manual_grade


def test_regrade_all_keeps_manual_grades(
    client, instructor, graded, queued, django_capture_on_commit_callbacks
):
    """ "Regrade all" for the lab queues this submission; grading it again keeps the
    instructor's points."""
    client.force_login(instructor)
    client.post(_url("gradebook_submission", graded.pk), _grade_post(graded, 1))
    queued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url("gradebook_regrade", graded.lab.slug))

    assert queued == [graded.pk]
    regraded = services.submission_autograde(submission_id=graded.pk)
    assert _manual_cell(regraded).points == Decimal(1)
    assert regraded.score == regraded.max_score


def test_a_submission_being_graded_is_not_regraded(
    client, instructor, submitted, queued
):
    """While a worker holds it, "Regrade" explains why nothing happened."""
    submission, _data = submitted
    Submission.objects.filter(pk=submission.pk).update(status="grading")
    queued.clear()
    client.force_login(instructor)

    response = client.post(
        _url("gradebook_submission_regrade", submission.pk), follow=True
    )

    assert queued == []
    assert "being graded right now" in response.content.decode()
