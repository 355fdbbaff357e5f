"""Building submissions for tests: the lab's release with answers filled in."""

import json

from grading.notebooks import release_notebook
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
