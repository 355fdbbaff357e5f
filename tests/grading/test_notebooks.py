"""Checking a submitted file before it is stored, and mending it before grading.

Each bad file is refused by ``notebook_check`` with a message the trainee can act
on, and ``submission_create`` passes that message on without storing anything.
"""

import json
from pathlib import Path

import pytest

from grading import services
from grading.models import Submission
from grading.notebooks import NotebookInvalid, notebook_check, notebook_mend
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

pytestmark = pytest.mark.engine_free

TINY_LAB = Path(__file__).resolve().parents[1] / "labs" / "data" / "tiny-lab"


def refused(lab, data: bytes) -> str:
    with pytest.raises(NotebookInvalid) as caught:
        notebook_check(lab=lab, data=data)
    return str(caught.value)


def test_malformed_json_is_refused_with_where_it_breaks(grading_lab):
    """A truncated .ipynb is not JSON: the message says so and where."""
    data = as_bytes(notebook_with(grading_lab, RIGHT))[:-40]
    message = refused(grading_lab, data)
    assert "not valid JSON" in message and "line" in message


def test_json_that_is_not_a_notebook_is_refused(grading_lab):
    """Valid JSON without cells and nbformat is not a Jupyter notebook."""
    message = refused(grading_lab, json.dumps({"cells": "no", "x": 1}).encode())
    assert message == "The file is JSON but not a Jupyter notebook (.ipynb)."


def test_a_png_is_refused_as_not_text(grading_lab):
    """Binary data (a picture uploaded by mistake) is named as such."""
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert "not text" in refused(grading_lab, png)


def test_a_damaged_notebook_is_refused_with_the_reason(grading_lab):
    """nbformat's schema is enforced: a code cell without outputs is damaged."""
    notebook = notebook_with(grading_lab, RIGHT)
    del notebook["cells"][1]["outputs"]
    assert "damaged (not valid nbformat 4)" in refused(grading_lab, as_bytes(notebook))


def test_an_old_notebook_format_is_refused(grading_lab):
    """Format 3 notebooks are named, not half-graded."""
    notebook = notebook_with(grading_lab, RIGHT)
    notebook["nbformat"] = 3
    assert "format 4" in refused(grading_lab, as_bytes(notebook))


def test_an_empty_or_oversized_file_is_refused(grading_lab, settings):
    """Nothing at all, or more than SUBMISSION_MAX_BYTES, with the limit stated."""
    assert refused(grading_lab, b"") == "The file is empty."
    settings.SUBMISSION_MAX_BYTES = 1024
    data = as_bytes(notebook_with(grading_lab, RIGHT))
    assert refused(grading_lab, data).endswith("; the limit is 1 KB.")


def test_another_labs_notebook_is_refused(grading_lab):
    """tiny-lab's notebook shares cell ids (intro, setup, double, double_tests)
    with the grading lab, but not their content: it is another lab."""
    data = (TINY_LAB / "tiny-lab.ipynb").read_bytes()
    message = refused(grading_lab, data)
    assert "is not the “Grading lab” lab" in message


def test_a_notebook_without_graded_cells_is_refused(grading_lab):
    """A plain notebook (no nbgrader cells) asks for the lab's own notebook."""
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "hi"}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    assert "none of the lab's graded cells" in refused(grading_lab, as_bytes(notebook))


def test_submitting_a_bad_file_stores_nothing_and_says_why(
    grading_lab, trainee, queued
):
    """The check runs before anything is stored or queued; the attempt is not used."""
    with pytest.raises(services.SubmissionError, match="not valid JSON"):
        services.submission_create(user=trainee, lab=grading_lab, data=b"{oops")
    assert not Submission.objects.exists() and queued == []


def test_a_deleted_test_cell_is_put_back_where_it_was(grading_lab):
    """mean_tests deleted: mended back after the mean cell, and named."""
    notebook = notebook_with(grading_lab, RIGHT, drop=("mean_tests",))
    mended, restored = notebook_mend(lab=grading_lab, notebook=notebook)
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in mended["cells"]]
    assert ids.index("mean_tests") == ids.index("mean") + 1
    assert restored == ["mean_tests"]


def test_an_edited_test_cell_is_named(grading_lab):
    """An edited visible test is named (nbgrader restores its source when grading);
    an answer cell the trainee wrote in is not."""
    notebook = notebook_with(grading_lab, {**RIGHT, "double_tests": "assert True"})
    _mended, restored = notebook_mend(lab=grading_lab, notebook=notebook)
    assert restored == ["double_tests"]
