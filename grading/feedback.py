"""What a trainee is told about a grading: per cell and for the whole notebook.

Stored as codes with parameters and rendered in the reader's language. Nothing here
ever carries hidden test source: error messages are cut short and withheld whole
when they contain a line of a hidden test (however the trainee's code got it there).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

MAX_ERROR_CHARS = 300
WITHHELD = "details withheld"


def error_summary(name: str, value: str, *, hidden_lines: list[str]) -> str:
    """``"Name: value"``, short, with nothing that would reveal a hidden test."""
    if not name:
        return ""
    text = f"{name}: {value}" if value else name
    for line in hidden_lines:
        if len(line) >= 8 and line in text:
            return f"{name} ({WITHHELD})"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


CELL_OUTCOMES = {
    "passed": _("Passed"),
    "failed": _("Failed"),
    "failed_hidden": _("A hidden test failed (its code is not shown)"),
    "pending": _("Waiting for an instructor to grade it"),
    "graded": _("Graded by an instructor"),
    "timeout": _("Stopped: it ran longer than the time limit for one cell"),
    "not_run": _("Not run (see the notes above)"),
}

NOTES = {
    "cell_timeout": _(
        "A cell ran longer than %(seconds)s seconds and was stopped: %(cells)s."
    ),
    "kernel_died": _(
        "Your code stopped the Python kernel (it crashed, exited, or used more "
        "memory than allowed). The cells after that were not run and earn no points."
    ),
    "job_time": _(
        "Grading reached the time limit for the whole notebook (%(seconds)s seconds); "
        "the remaining cells were not run."
    ),
    "output_truncated": _(
        "Your notebook printed too much output; the rest was dropped."
    ),
    "cells_restored": _(
        "Test cells that were deleted or changed were restored to the originals: "
        "%(cells)s."
    ),
    "manual_pending": _(
        "Some answers are graded by an instructor; the total may rise."
    ),
}


def note_text(note: dict) -> str:
    template = NOTES.get(note.get("code", ""))
    if template is None:
        return ""
    return str(template) % note.get("params", {})


def cell_outcome_text(code: str) -> str:
    return str(CELL_OUTCOMES.get(code, code))
