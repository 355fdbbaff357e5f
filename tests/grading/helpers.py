"""Building submissions for tests: the lab's release with answers filled in."""

import json
from decimal import Decimal

from grading.models import Submission
from grading.notebooks import release_notebook
from grading.tallies import lab_trainee_refresh
from labs.models import Lab


def notebook_with(lab: Lab, answers: dict[str, str], *, drop: tuple = ()) -> dict:
    """The release notebook of ``lab`` with ``answers`` (grade_id → source) put in
    and the cells in ``drop`` removed."""
    notebook = release_notebook(lab)
    cells = []
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in drop:
            continue
        if grade_id in answers:
            cell["source"] = answers[grade_id]
        cells.append(cell)
    notebook["cells"] = cells
    return notebook


def as_bytes(notebook: dict) -> bytes:
    return json.dumps(notebook).encode()


RIGHT = {
    "double": "def double(x):\n    return 2 * x",
    "mean": "def mean(values):\n    return sum(values) / len(values)",
    "explain": "One outlier can pull the mean far from the typical value.",
}


def submission_stored(
    user,
    lab,
    *,
    attempt=1,
    status="graded",
    score=None,
    max_score="5",
    passed=None,
    manual=False,
    at=None,
) -> Submission:
    """A submission row as grading leaves it (no notebook file behind it: these
    tests only read rows)."""
    submission = Submission.objects.create(
        user=user,
        lab=lab,
        attempt=attempt,
        notebook=f"submissions/test-{user.pk}-{attempt}.ipynb",
        sha256="0" * 64,
        size=1,
        source=Submission.Source.UPLOAD,
        lab_version=1,
        status=status,
        score=None if score is None else Decimal(score),
        max_score=None if score is None else Decimal(max_score),
        passed=passed,
        needs_manual_grade=manual,
    )
    if at is not None:
        # An update() sends no signal: the gradebook's line follows by hand.
        Submission.objects.filter(pk=submission.pk).update(created_at=at)
        lab_trainee_refresh(lab_id=lab.pk, user_id=user.pk)
    return submission
