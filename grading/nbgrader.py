"""The one adapter around nbgrader for grading submissions.

Built on ``labs.nbgrader`` (which makes a lab's release): this module adds what a
submission needs — a per-lab-version *grading template* (the source and the
gradebook that ``generate_assignment`` fills with the original cells and their
checksums, so autograde restores deleted or edited test cells), a throw-away course
directory per submission, execution inside ``grading.sandbox``, and the reading of
every graded cell's score into our own typed result. nbgrader's gradebook is scratch.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from grading import executor, sandbox
from labs.models import Lab
from labs.nbgrader import COURSE_ID, NbgraderError, _api, assignment_generate
from labs.services import lab_source_dir

log = logging.getLogger(__name__)

STUDENT = "trainee"  # the one student in each throw-away course directory
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# --- What a lab's notebook grades -----------------------------------------------------


@dataclass(frozen=True)
class GradedCell:
    """One cell that carries points, as the lab's source notebook defines it."""

    grade_id: str
    points: float
    kind: str  # "auto" (a test cell) or "manual" (an answer an instructor grades)
    position: int
    hidden: bool = False  # holds hidden tests


@dataclass(frozen=True)
class LabCells:
    graded: list[GradedCell]
    ids: set[str]  # every nbgrader cell id (graded, solution, locked)
    hidden_lines: list[str]  # hidden test source, to keep out of feedback


def lab_cells(notebook: dict) -> LabCells:
    """The nbgrader cells of a source notebook."""
    graded, ids, hidden = [], set(), []
    position = 0
    for cell in notebook.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        ids.add(grade_id)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if meta.get("grade"):
            kind = (
                "manual"
                if meta.get("solution") or cell.get("cell_type") == "markdown"
                else "auto"
            )
            graded.append(
                GradedCell(
                    grade_id,
                    float(meta.get("points", 0)),
                    kind,
                    position,
                    HIDDEN_BEGIN in source,
                )
            )
            position += 1
        inside = False
        for line in source.splitlines():
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif inside and line.strip():
                hidden.append(line.strip())
    return LabCells(graded, ids, hidden)


# --- The grading template of a lab version --------------------------------------------


def template_dir(lab: Lab) -> Path:
    digest = (lab.source_sha256 or "nosha")[:12]
    return (
        Path(settings.VAR_DIR)
        / "grading"
        / "templates"
        / lab.slug
        / f"v{lab.version}-{digest}"
    )


def template_ensure(lab: Lab) -> Path:
    """The lab version's source and filled gradebook, built once then reused."""
    target = template_dir(lab)
    if (target / "gradebook.db").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(Path(settings.VAR_DIR) / "grading", 0o700)
    build = Path(tempfile.mkdtemp(prefix=f".{lab.slug}-", dir=target.parent))
    try:
        source = lab_source_dir(lab)
        course_source = build / "source" / lab.slug
        course_source.mkdir(parents=True)
        for relative in [lab.notebook, *lab.data_files]:
            destination = course_source / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, destination)
        assignment_generate(root=build, assignment=lab.slug)
        shutil.rmtree(build / "release", ignore_errors=True)
        notebook = json.loads(
            (course_source / lab.notebook).read_text(encoding="utf-8")
        )
        cells = lab_cells(notebook)
        (build / "cells.json").write_text(
            json.dumps(
                {
                    "graded": [c.__dict__ for c in cells.graded],
                    "ids": sorted(cells.ids),
                    "hidden_lines": cells.hidden_lines,
                }
            )
        )
        try:
            build.rename(target)
        except OSError:  # another worker built it first
            shutil.rmtree(build, ignore_errors=True)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return target


def template_cells(template: Path) -> LabCells:
    data = json.loads((template / "cells.json").read_text())
    return LabCells(
        [GradedCell(**c) for c in data["graded"]],
        set(data["ids"]),
        data["hidden_lines"],
    )


# --- Running one grading --------------------------------------------------------------


@dataclass
class CellOutcome:
    grade_id: str
    kind: str
    points: float | None  # None: waits for an instructor
    max_points: float
    error_name: str = ""
    error_value: str = ""
    error_hidden: bool = False  # raised at a hidden test line: show no details


@dataclass
class Grading:
    """What one autograde produced, in our terms."""

    ok: bool  # nbgrader ran to the end (else ``error`` says why)
    cells: list[CellOutcome] = field(default_factory=list)
    kernel_died: bool = False
    kernel_stuck: str = ""  # the cell that ignored the interrupt at its time limit
    timed_out: list[str] = field(default_factory=list)  # grade ids of timed-out cells
    job_time_exceeded: bool = False
    output_truncated: bool = False
    guard_failed: list[str] = field(default_factory=list)  # tests not run
    started: bool = False  # some cell of the notebook ran
    error: str = ""
    log: str = ""
    seconds: float = 0.0


def submission_grade(*, lab: Lab, notebook: bytes, name: str = "submission") -> Grading:
    """Autograde one submitted notebook of ``lab`` in a throw-away course directory."""
    started = time.monotonic()
    template = template_ensure(lab)
    with sandbox.Sandbox.open(name=name) as box:
        root = box.job_dir / "course"
        root.mkdir(mode=0o711)
        shutil.copytree(template / "source", root / "source")
        os.chmod(root / "source", 0o700)
        shutil.copy2(template / "gradebook.db", root / "gradebook.db")
        os.chmod(root / "gradebook.db", 0o600)
        submitted = root / "submitted" / STUDENT / lab.slug
        submitted.mkdir(parents=True)
        os.chmod(root / "submitted", 0o700)
        (submitted / lab.notebook).write_bytes(notebook)

        api = _api(
            root, cell_timeout=settings.GRADING_CELL_TIMEOUT, extra=_grading_config()
        )
        sandbox.current = box
        try:
            with executor.job_run(
                seconds=settings.GRADING_JOB_TIMEOUT - (time.monotonic() - started),
                box=box,
            ) as job:
                result = api.autograde(lab.slug, STUDENT, force=True, create=True)
        finally:
            sandbox.current = None
        grading = Grading(
            ok=bool(result.get("success")),
            kernel_died=job.kernel_died,
            kernel_stuck=job.kernel_stuck,
            timed_out=job.timed_out,
            job_time_exceeded=job.job_time_exceeded,
            output_truncated=job.output_truncated,
            guard_failed=job.guard_failed,
            started=job.cells_started > 0,
            error=result.get("error") or "",
            log=result.get("log") or "",
        )
        if grading.ok:
            grading.cells = _cells_read(root, lab, template_cells(template))
    grading.seconds = time.monotonic() - started
    return grading


def _cells_read(root: Path, lab: Lab, cells: LabCells) -> list[CellOutcome]:
    from nbgrader.api import Gradebook, MissingEntry

    notebook_id = Path(lab.notebook).stem
    errors = _errors_read(root / "autograded" / STUDENT / lab.slug / lab.notebook)
    outcomes = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gradebook:
        for cell in cells.graded:
            try:
                grade = gradebook.find_grade(
                    cell.grade_id, notebook_id, lab.slug, STUDENT
                )
            except MissingEntry as error:
                raise NbgraderError(f"No grade for cell {cell.grade_id}.") from error
            if grade.needs_manual_grade and cell.kind == "manual":
                points = None
            else:
                points = float(grade.auto_score or 0)
            name, value, hidden = errors.get(cell.grade_id, ("", "", False))
            outcomes.append(
                CellOutcome(
                    cell.grade_id,
                    cell.kind,
                    points,
                    float(grade.max_score),
                    name,
                    value,
                    hidden,
                )
            )
    return outcomes


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def _hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines inside (and marking) hidden test blocks."""
    numbers, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            numbers.add(number)
        if HIDDEN_END in line:
            inside = False
    return numbers


def _errors_read(path: Path) -> dict[str, tuple[str, str, bool]]:
    """The first error of each graded cell in the graded notebook: its name, value,
    and whether it was raised at a hidden test line (or may have been: a cell with
    hidden tests whose traceback does not say where counts as hidden)."""
    found: dict[str, tuple[str, str, bool]] = {}
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return found
    for cell in notebook.get("cells", []):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        if not grade_id:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        hidden_lines = _hidden_line_numbers(source)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            traceback = _ANSI.sub(
                "", "\n".join(map(str, output.get("traceback") or []))
            )
            where = _CELL_LINE.search(traceback)
            hidden = (
                int(where.group(1)) in hidden_lines if where else bool(hidden_lines)
            )
            found[grade_id] = (
                str(output.get("ename", "")),
                str(output.get("evalue", "")),
                hidden,
            )
            break
    return found


def _grading_config() -> dict[str, Any]:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    return {
        "Autograde": {
            "autograde_preprocessors": [
                executor.executor_class(),
                IgnorePattern,
                ClearMetadataPreprocessor,
                LimitOutput,
                SaveAutoGrades,
                AssignLatePenalties,
                CheckCellMetadata,
            ]
        },
        "Execute": {"timeout": settings.GRADING_CELL_TIMEOUT},
        "LimitOutput": {"max_lines": 200, "max_traceback": 50},
    }
