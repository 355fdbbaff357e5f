"""The gradebook's lines (one per trainee and lab) and tallies (one per lab) stay
equal to what the submissions say, through every kind of write: a submission,
grading, a manual grade, a regrade, the sweeper, a deletion, a change of name."""

import socket
from decimal import Decimal

import pytest

from grading import services, tallies
from grading.models import LabTally, LabTrainee, Submission
from tests.factories import UserFactory
from tests.grading.helpers import submission_stored

pytestmark = pytest.mark.django_db

LINE_FIELDS = [
    *("lab_id", "user_id", "latest_id", "sort_name", "status", "status_rank"),
    *("percent", "submitted_at", "best_score", "attempts"),
    *tallies.COUNTS,
]
TALLY_FIELDS = ["lab_id", "trainees", "last_submitted_at", *tallies.COUNTS]


def _state() -> tuple[list, list]:
    lines = sorted(LabTrainee.objects.values_list(*LINE_FIELDS))
    tally_rows = sorted(LabTally.objects.values_list(*TALLY_FIELDS))
    return lines, tally_rows


def _kept_equals_rebuilt() -> tuple[list, list]:
    """The lines and tallies as kept, checked against a rebuild from scratch."""
    kept = _state()
    tallies.tallies_rebuild()
    assert _state() == kept
    return kept


def _line(user, lab) -> LabTrainee:
    return LabTrainee.objects.get(user=user, lab=lab)


def test_a_line_follows_each_attempt_and_its_grading(grading_lab, trainee):
    """The line shows the latest attempt, the best graded score and the counts of
    all attempts by state; the lab's tally counts every attempt and trainee."""
    first = submission_stored(trainee, grading_lab, attempt=1, score="4")
    second = submission_stored(trainee, grading_lab, attempt=2, status="queued")

    line = _line(trainee, grading_lab)
    assert (line.latest_id, line.status, line.attempts) == (second.pk, "queued", 2)
    assert (line.graded, line.queued, line.best_score) == (1, 1, Decimal(4))
    assert line.status_rank == tallies.RANK_QUEUED and line.percent is None

    second.status, second.score, second.max_score = "graded", Decimal(2), Decimal(5)
    second.needs_manual_grade = True
    second.save()

    line = _line(trainee, grading_lab)
    assert (line.status, line.status_rank) == ("graded", tallies.RANK_MANUAL)
    assert (line.percent, line.best_score) == (Decimal(40), Decimal(4))
    assert (line.graded, line.queued, line.awaiting) == (2, 0, 1)
    tally = LabTally.objects.get(lab=grading_lab)
    assert (tally.trainees, tally.graded, tally.queued, tally.awaiting) == (1, 2, 0, 1)
    assert tally.last_submitted_at == second.created_at
    assert first.pk != second.pk
    _kept_equals_rebuilt()


def test_lines_follow_the_services_writes(grading_lab, trainee, other_trainee, queued):
    """A claim, a release, a failure, a regrade and the sweeper's requeue (the
    services' update() calls, which send no signal) all leave the lines right."""
    one = submission_stored(trainee, grading_lab, attempt=1, status="queued")
    submission_stored(other_trainee, grading_lab, attempt=1, score="5")

    claimed = services.submission_claim(submission_id=one.pk)
    assert claimed is not None
    assert _line(trainee, grading_lab).status == "grading"
    _kept_equals_rebuilt()

    services._release(claimed)
    assert _line(trainee, grading_lab).status == "queued"
    _kept_equals_rebuilt()

    services.submission_fail(submission_id=one.pk, reason="Kernel died.")
    assert _line(trainee, grading_lab).status == "error"
    assert LabTally.objects.get(lab=grading_lab).error == 1
    _kept_equals_rebuilt()

    services.lab_regrade(lab=grading_lab)
    assert set(LabTrainee.objects.values_list("status", flat=True)) == {"queued"}
    assert LabTally.objects.get(lab=grading_lab).queued == 2
    _kept_equals_rebuilt()

    dead = f"{socket.gethostname()}:999999999:1.00/gone"  # no such process here
    Submission.objects.filter(pk=one.pk).update(status="grading", grader=dead)
    tallies.lab_trainee_refresh(lab_id=grading_lab.pk, user_id=trainee.pk)
    assert services.submissions_requeue_stuck() == 1
    assert _line(trainee, grading_lab).status == "queued"
    _kept_equals_rebuilt()


def test_deleting_attempts_falls_back_then_removes_the_line(grading_lab, trainee):
    """Deleting the latest attempt shows the one before; deleting the last one
    removes the line and the trainee from the lab's tally."""
    first = submission_stored(trainee, grading_lab, attempt=1, score="3")
    second = submission_stored(trainee, grading_lab, attempt=2, status="error")

    second.delete()
    line = _line(trainee, grading_lab)
    assert (line.latest_id, line.status, line.attempts, line.error) == (
        first.pk,
        "graded",
        1,
        0,
    )
    _kept_equals_rebuilt()

    first.delete()
    assert not LabTrainee.objects.filter(user=trainee).exists()
    tally = LabTally.objects.get(lab=grading_lab)
    assert (tally.trainees, tally.graded, tally.error) == (0, 0, 0)


def test_a_new_name_reaches_the_lines(grading_lab):
    """The gradebook sorts by the trainee's current name."""
    user = UserFactory(display_name="Zed")
    submission_stored(user, grading_lab, attempt=1, score="1")
    assert _line(user, grading_lab).sort_name == "zed"

    user.display_name = "Abe"
    user.save()
    assert _line(user, grading_lab).sort_name == "abe"

    user.display_name = ""
    user.save(update_fields=["display_name"])
    assert _line(user, grading_lab).sort_name == user.username.lower()
    _kept_equals_rebuilt()


def test_the_rebuild_restores_lines_of_bulk_loaded_submissions(grading_lab):
    """bulk_create sends no signal: ``tallies_rebuild`` builds the same lines the
    writes one by one would have left."""
    users = [UserFactory(display_name=f"T{n}") for n in range(3)]
    for user in users:
        for attempt in (1, 2):
            submission_stored(user, grading_lab, attempt=attempt, score=str(attempt))
    kept = _state()
    LabTrainee.objects.all().delete()
    LabTally.objects.all().delete()

    assert tallies.tallies_rebuild() == 3
    assert _state() == kept
