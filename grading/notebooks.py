"""Checking a submitted notebook before it is stored, and mending it before grading.

Plain functions over bytes and dicts: no nbgrader (slow to import) and no database.
"""

from __future__ import annotations

import copy
import json

import nbformat
from django.conf import settings
from django.utils.translation import gettext as _

from grading.nbgrader import HIDDEN_BEGIN, HIDDEN_END, lab_cells
from labs.models import Lab
from labs.services import lab_release_dir


class NotebookInvalid(Exception):
    """The file cannot be accepted as this lab's notebook; ``str()`` says why."""


def release_notebook(lab: Lab) -> dict:
    path = lab_release_dir(lab) / lab.notebook
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise NotebookInvalid(
            _("This lab's files are missing; ask an instructor to publish it.")
        ) from error


def _ids(notebook: dict) -> list[str]:
    ids = []
    for cell in notebook.get("cells", []):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if grade_id:
            ids.append(grade_id)
    return ids


def _grading_metadata_check(notebook: dict) -> None:
    """nbformat lets cell metadata hold anything; nbgrader's must be an object
    whose ``grade_id`` is a name, or neither we nor nbgrader can read the cell."""
    for number, cell in enumerate(notebook["cells"], start=1):
        meta = cell["metadata"].get("nbgrader", {})
        if not isinstance(meta, dict) or not isinstance(meta.get("grade_id", ""), str):
            raise NotebookInvalid(
                _(
                    "The notebook's grading information is damaged (cell "
                    "%(number)s). Download the lab's notebook again and copy your "
                    "answers into it."
                )
                % {"number": number}
            )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{-(-size // 1024)} KB"


def notebook_check(*, lab: Lab, data: bytes) -> dict:
    """The parsed notebook if ``data`` is a valid notebook of ``lab``; else why not."""
    limit = settings.SUBMISSION_MAX_BYTES
    if not data:
        raise NotebookInvalid(_("The file is empty."))
    if len(data) > limit:
        raise NotebookInvalid(
            _("The notebook is %(size)s; the limit is %(limit)s.")
            % {"size": _megabytes(len(data)), "limit": _megabytes(limit)}
        )
    try:
        parsed = json.loads(data.decode("utf-8"))
    except RecursionError as error:  # nested deeper than the parser goes
        raise NotebookInvalid(
            _("The file is JSON but not a Jupyter notebook (.ipynb).")
        ) from error
    except UnicodeDecodeError as error:
        raise NotebookInvalid(
            _("The file is not text (UTF-8), so it is not a notebook.")
        ) from error
    except json.JSONDecodeError as error:
        raise NotebookInvalid(
            _(
                "The file is not valid JSON, so it is not a notebook "
                "(line %(line)s, column %(column)s: %(reason)s)."
            )
            % {"line": error.lineno, "column": error.colno, "reason": error.msg}
        ) from error
    if (
        not isinstance(parsed, dict)
        or "cells" not in parsed
        or "nbformat" not in parsed
    ):
        raise NotebookInvalid(
            _("The file is JSON but not a Jupyter notebook (.ipynb).")
        )
    if parsed.get("nbformat") != 4:
        raise NotebookInvalid(
            _("Only notebooks in format 4 (Jupyter 4 and later) are accepted.")
        )
    try:
        nbformat.validate(nbformat.from_dict(copy.deepcopy(parsed)), version=4)
    except nbformat.ValidationError as error:
        message = str(error.message)[:200]
        raise NotebookInvalid(
            _("The notebook is damaged (not valid nbformat 4): %(reason)s")
            % {"reason": message}
        ) from error
    except Exception as error:
        # nbformat's validator itself fails on some shapes (a cell_type that is
        # not a string, metadata nested deeper than Python recurses): damaged too.
        raise NotebookInvalid(
            _(
                "The notebook is damaged (not valid nbformat 4): its structure "
                "cannot be read."
            )
        ) from error
    _grading_metadata_check(parsed)
    release = release_notebook(lab)
    expected = set(_ids(release))
    found = set(_ids(parsed))
    if not found:
        raise NotebookInvalid(
            _(
                "This notebook has none of the lab's graded cells. Submit the "
                "notebook of “%(lab)s” that you worked in."
            )
            % {"lab": lab.localized_title}
        )
    if (
        len(found & expected) * 2 < len(expected)
        or len(found - expected) > len(found & expected)
        or not _locked_cells_match(release, parsed)
    ):
        raise NotebookInvalid(
            _(
                "This notebook is not the “%(lab)s” lab (its graded cells belong to "
                "another notebook)."
            )
            % {"lab": lab.localized_title}
        )
    return parsed


def _locked_cells_match(release: dict, notebook: dict) -> bool:
    """Most of the release's locked cells that the notebook has are unchanged.

    Labs share cell ids (``setup``, ``intro``…), so ids alone do not tell another
    lab's notebook apart; its locked cells (text, setup, tests) do.
    """
    submitted = {}
    for cell in notebook.get("cells", []):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if grade_id:
            submitted.setdefault(grade_id, _source(cell))
    shared = same = 0
    for cell in release.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("locked") and meta.get("grade_id") in submitted:
            shared += 1
            same += submitted[meta["grade_id"]] == _source(cell)
    return same * 2 >= shared


def notebook_mend(*, lab: Lab, notebook: dict) -> tuple[dict, list[str]]:
    """Put back deleted test cells, and name test cells that were changed.

    nbgrader restores the source of changed locked cells itself (from its checksums
    and gradebook); a cell that was deleted altogether has to be inserted again,
    from the release, where it stood.
    """
    release = release_notebook(lab)
    cells = copy.deepcopy(notebook.get("cells", []))
    present = {}
    for index, cell in enumerate(cells):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if grade_id:
            present[grade_id] = index
    restored = []
    previous = None
    for original in release.get("cells", []):
        meta = (original.get("metadata") or {}).get("nbgrader") or {}
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        locked_test = meta.get("locked") or (
            meta.get("grade") and not meta.get("solution")
        )
        if grade_id not in present:
            if meta.get("grade") or meta.get("locked"):
                at = present[previous] + 1 if previous in present else 0
                cells.insert(at, copy.deepcopy(original))
                present = {
                    gid: i
                    for i, c in enumerate(cells)
                    if (
                        gid := ((c.get("metadata") or {}).get("nbgrader") or {}).get(
                            "grade_id"
                        )
                    )
                }
                restored.append(grade_id)
        elif locked_test and _source(cells[present[grade_id]]) != _source(original):
            restored.append(grade_id)
        if grade_id in present:
            previous = grade_id
    mended = dict(notebook)
    mended["cells"] = cells
    return mended, [gid for gid in restored if _is_test(release, gid)]


def _source(cell: dict) -> str:
    """A cell's source as compared for edits: hidden-test blocks and blank lines out."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    kept, hidden = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        elif not hidden and line.strip():
            kept.append(line.rstrip())
    return "\n".join(kept)


def _is_test(release: dict, grade_id: str) -> bool:
    for graded in lab_cells(release).graded:
        if graded.grade_id == grade_id:
            return graded.kind == "auto"
    return False


def notebook_bytes(notebook: dict) -> bytes:
    return json.dumps(notebook, ensure_ascii=False, indent=1).encode("utf-8")
