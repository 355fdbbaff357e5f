"""The grading services end to end: submit, grade in the sandbox, store, grade by
hand, fail safely."""

from grading import services
from tests.grading.helpers import RIGHT, as_bytes, notebook_with


def test_a_right_notebook_is_graded_with_the_manual_cell_pending(
    grading_lab, trainee, queued, django_capture_on_commit_callbacks
):
    """Queued after commit; both tests pass; the manual answer waits, so no verdict."""
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(
            user=trainee,
            lab=grading_lab,
            data=as_bytes(notebook_with(grading_lab, RIGHT)),
        )
    assert queued == [submission.pk]
    graded = services.submission_autograde(submission_id=submission.pk)
    cells = {c.grade_id: c for c in graded.cells.all()}

    assert graded.status == "graded"
    assert cells["double_tests"].points == 2 and cells["mean_tests"].points == 2
    assert cells["explain"].points is None
    assert graded.needs_manual_grade and graded.passed is None


def test_grading_twice_is_a_no_op(grading_lab, trainee, queued):
    """A duplicate message for a graded submission changes nothing."""
    submission = services.submission_create(
        user=trainee, lab=grading_lab, data=as_bytes(notebook_with(grading_lab, RIGHT))
    )
    graded = services.submission_autograde(submission_id=submission.pk)
    assert services.submission_autograde(submission_id=submission.pk) is None
    graded.refresh_from_db()
    assert graded.status == "graded" and graded.deliveries == 1


def test_an_instructor_grades_the_manual_cell_and_the_total_follows(
    grading_lab, trainee, instructor, queued
):
    """The pending answer gets its points; score, pass and notes are updated."""
    from decimal import Decimal

    submission = services.submission_create(
        user=trainee, lab=grading_lab, data=as_bytes(notebook_with(grading_lab, RIGHT))
    )
    services.submission_autograde(submission_id=submission.pk)
    graded = services.submission_grade_manual(
        submission=submission,
        grade_id="explain",
        points=Decimal("1"),
        comment="Clear.",
        grader=instructor,
    )
    assert graded.score == 5 and graded.passed is True
    assert not graded.needs_manual_grade
    assert "manual_pending" not in [n["code"] for n in graded.notes]


def test_an_infrastructure_failure_ends_as_error_with_a_safe_message(
    grading_lab, trainee, queued, settings
):
    """A kernel that never starts: the task retries, then records `error` with our
    own reason, never notebook content; the attempt does not count."""
    from grading import tasks
    from grading.nbgrader import template_cells, template_ensure

    settings.GRADING_MEMORY_MB = 8  # no room for Python: the kernel cannot start
    settings.GRADING_MAX_DELIVERIES = 10
    submission = services.submission_create(
        user=trainee, lab=grading_lab, data=as_bytes(notebook_with(grading_lab, RIGHT))
    )
    tasks.submission_autograde.apply(args=[submission.pk])
    submission.refresh_from_db()
    assert submission.status == "error"
    assert submission.error.startswith("Grading could not run because of a problem")
    assert "the Python kernel did not start" in submission.error
    for line in template_cells(template_ensure(grading_lab)).hidden_lines:
        assert line not in submission.error
    assert services.attempts_used(user=trainee, lab=grading_lab) == 0


def test_a_lab_with_a_manual_cell_passes_its_self_check(db, settings, tmp_path):
    """The self-check wants full marks on the autograded cells; the manual cell's
    points count in the maximum, which must still equal the lab's points."""
    from labs.models import Lab
    from labs.services import lab_publish, labs_import
    from tests.grading.conftest import DATA

    settings.VAR_DIR = tmp_path / "var"
    settings.LABS_SOURCE_DIR = DATA
    lab = next(lab for lab in labs_import(publish=False) if lab.slug == "grading-lab")
    lab_publish(lab=lab)
    assert lab.status == Lab.Status.PUBLISHED, lab.check_log
    assert "solution: autograde ran, score 5 of 5" in lab.check_log
    assert "4 autograded; 1 in manually graded answers" in lab.check_log
    assert "release: autograde ran, score 0 of 5" in lab.check_log


def test_a_grader_is_dead_when_its_pid_is_gone_or_is_another_process():
    """A grader is named by host, pid and start time: alive while that process
    runs; dead once it exited, or when its pid now belongs to a process started at
    another time (a reused pid); never judged on another host."""
    import socket
    import subprocess

    import psutil

    process = subprocess.Popen(["sleep", "60"])  # noqa: S607
    started = psutil.Process(process.pid).create_time()
    here = socket.gethostname()
    alive = f"{here}:{process.pid}:{started:.2f}/a-task-id"
    try:
        assert not services._grader_gone(alive)
        assert services._grader_gone(f"{here}:{process.pid}:{started - 60:.2f}")
        assert not services._grader_gone(f"elsewhere:{process.pid}:{started:.2f}")
        assert not services._grader_gone(services._me())
    finally:
        process.kill()
        process.wait()
    assert services._grader_gone(alive)


def test_two_sweeps_requeue_a_dead_grader_s_submission_once(
    grading_lab, trainee, queued
):
    """A submission left "grading" by a dead process is queued again by the first
    sweep and left alone by the next (compare-and-set on what each found)."""
    import socket

    from grading.models import Submission

    submission = services.submission_create(
        user=trainee, lab=grading_lab, data=as_bytes(notebook_with(grading_lab, RIGHT))
    )
    Submission.objects.filter(pk=submission.pk).update(
        status="grading",
        deliveries=1,
        grader=f"{socket.gethostname()}:999999999:1.00/gone",
    )
    queued.clear()

    assert services.submissions_requeue_stuck() == 1
    assert services.submissions_requeue_stuck() == 0
    submission.refresh_from_db()
    assert (submission.status, submission.grader) == ("queued", "")
    assert queued == [submission.pk]
