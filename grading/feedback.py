"""What a trainee is told about a grading: per cell and for the whole notebook.

Stored as codes with parameters and rendered in the reader's language. Nothing here
ever carries hidden test source: error messages are cut short and withheld whole
when they contain a line of a hidden test (however the trainee's code got it there).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

MAX_ERROR_CHARS = 300
MIN_HIDDEN_CHARS = 6  # shorter lines (``pass``, ``else:``) reveal nothing
WITHHELD = "details withheld"


def _squeezed(text: str) -> str:
    return "".join(text.split())


def reveals_hidden(text: str, hidden_lines: list[str]) -> bool:
    """Whether ``text`` holds a line of a hidden test, however it was spaced."""
    squeezed = _squeezed(text)
    return any(
        len(line) >= MIN_HIDDEN_CHARS and line in squeezed
        for line in map(_squeezed, hidden_lines)
    )


def error_summary(name: str, value: str, *, hidden_lines: list[str]) -> str:
    """``"Name: value"``, short, with nothing that would reveal a hidden test."""
    if not name:
        return ""
    name = name[:100]
    text = f"{name}: {value}" if value else name
    if reveals_hidden(text, hidden_lines):
        return f"{name} ({WITHHELD})"
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


CELL_OUTCOMES = {
    "passed": _("Passed"),
    "failed": _("Failed"),
    "failed_hidden": _("A hidden test failed (its code is not shown)"),
    "pending": _("Waiting for an instructor to grade it"),
    "unanswered": _("Not answered"),
    "graded": _("Graded by an instructor"),
    "timeout": _("Stopped: it ran longer than the time limit for one cell"),
    "not_run": _("Not run (see the notes above)"),
    "kernel_died": _("The Python kernel stopped while this cell ran"),
    "guard": _("Not run: your notebook changed how the grader runs tests"),
}

NOTES = {
    "cell_timeout": _(
        "A cell ran longer than %(seconds)s seconds and was stopped: %(cells)s."
    ),
    "kernel_died": _(
        "Your code stopped the Python kernel (it crashed, exited, or used more "
        "memory than allowed). The cells after that were not run and earn no points."
    ),
    "kernel_stuck": _(
        "Cell %(cell)s kept running after it was interrupted at the time limit, so "
        "the Python kernel was stopped; the cells after it were not run and earn no "
        "points."
    ),
    "guard_failed": _(
        "Your notebook changed the way IPython runs code (hooks, transformers or the "
        "shell itself) and this could not be undone, so these tests were not run: "
        "%(cells)s."
    ),
    "job_time": _(
        "Grading reached the time limit for the whole notebook (%(seconds)s seconds); "
        "the remaining cells were not run."
    ),
    "output_truncated": _(
        "Your notebook printed more than %(kb)s KB of output; the rest was dropped "
        "(grading went on)."
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
    try:
        return str(template) % note.get("params", {})
    except (KeyError, TypeError, ValueError):  # a note stored by an older version
        return str(template).split("%(")[0].rstrip(" :(")


def cell_outcome_text(code: str) -> str:
    return str(CELL_OUTCOMES.get(code, code))
