from grading import services
from tests.grading.helpers import RIGHT, as_bytes, notebook_with


def test_a_right_notebook_is_graded_with_the_manual_cell_pending(
    grading_lab, trainee, queued, django_capture_on_commit_callbacks
):
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
