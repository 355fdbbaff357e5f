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
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from grading import sandbox
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


@dataclass
class Grading:
    """What one autograde produced, in our terms."""

    ok: bool  # nbgrader ran to the end (else ``error`` says why)
    cells: list[CellOutcome] = field(default_factory=list)
    kernel_died: bool = False
    timed_out: list[str] = field(default_factory=list)  # grade ids of timed-out cells
    job_time_exceeded: bool = False
    output_truncated: bool = False
    error: str = ""
    log: str = ""
    seconds: float = 0.0


@dataclass
class _Job:
    """State the executor shares with the adapter while one notebook runs."""

    deadline: float
    kernel_died: bool = False
    job_time_exceeded: bool = False
    output_bytes: int = 0
    output_truncated: bool = False
    timed_out: list[str] = field(default_factory=list)


_job: _Job | None = None


def submission_grade(*, lab: Lab, notebook: bytes, name: str = "submission") -> Grading:
    """Autograde one submitted notebook of ``lab`` in a throw-away course directory."""
    global _job
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

        sandbox.current = box
        _job = _Job(deadline=started + settings.GRADING_JOB_TIMEOUT)
        try:
            api = _api(
                root,
                cell_timeout=settings.GRADING_CELL_TIMEOUT,
                extra=_grading_config(),
            )
            result = api.autograde(lab.slug, STUDENT, force=True, create=True)
            job = _job
        finally:
            sandbox.current = None
            _job = None
        grading = Grading(
            ok=bool(result.get("success")),
            kernel_died=job.kernel_died,
            timed_out=job.timed_out,
            job_time_exceeded=job.job_time_exceeded,
            output_truncated=job.output_truncated,
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
            name, value = errors.get(cell.grade_id, ("", ""))
            outcomes.append(
                CellOutcome(
                    cell.grade_id,
                    cell.kind,
                    points,
                    float(grade.max_score),
                    name,
                    value,
                )
            )
    return outcomes


def _errors_read(path: Path) -> dict[str, tuple[str, str]]:
    """The first error of each graded cell in the graded notebook."""
    found: dict[str, tuple[str, str]] = {}
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return found
    for cell in notebook.get("cells", []):
        grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
        for output in cell.get("outputs", []):
            if grade_id and output.get("output_type") == "error":
                found.setdefault(
                    grade_id,
                    (str(output.get("ename", "")), str(output.get("evalue", ""))),
                )
    return found


# --- The executor -----------------------------------------------------------------


GUARD_SETUP = r"""
def _silkroute_guard_setup():
    import builtins, sys, types
    ip = get_ipython()
    shell_class = type(ip)
    saved = {
        "events": {k: list(v) for k, v in ip.events.callbacks.items()},
        "cleanup": list(ip.input_transformers_cleanup),
        "post": list(ip.input_transformers_post),
        "ast": list(ip.ast_transformers),
        "excepthook": sys.excepthook,
        "methods": {
            name: getattr(shell_class, name)
            for name in ("showtraceback", "showsyntaxerror", "_showtraceback",
                         "run_cell", "run_cell_async", "run_ast_nodes", "run_code",
                         "transform_cell", "transform_ast")
            if hasattr(shell_class, name)
        },
    }
    def restore():
        ip.events.callbacks.clear()
        ip.events.callbacks.update({k: list(v) for k, v in saved["events"].items()})
        ip.input_transformers_cleanup[:] = saved["cleanup"]
        ip.input_transformers_post[:] = saved["post"]
        ip.ast_transformers[:] = saved["ast"]
        sys.excepthook = saved["excepthook"]
        for name, method in saved["methods"].items():
            setattr(shell_class, name, method)
            ip.__dict__.pop(name, None)
    module = types.ModuleType("_silkroute_guard")
    module.restore = restore
    sys.modules["_silkroute_guard"] = module
_silkroute_guard_setup()
del _silkroute_guard_setup
"""
GUARD_RESTORE = "__import__('sys').modules['_silkroute_guard'].restore()"

_executor_class = None


def _executor() -> type:
    """nbgrader's Execute, made to run in the sandbox and to hold the job's limits.

    Built on first use: importing nbgrader is slow.
    """
    global _executor_class
    if _executor_class is not None:
        return _executor_class
    from jupyter_core.utils import ensure_async
    from nbclient.exceptions import DeadKernelError
    from nbformat.v4 import new_output
    from nbgrader.preprocessors import Execute

    def error(ename: str, evalue: str):
        return new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
        )

    class SandboxExecute(Execute):
        """Adds to nbgrader's Execute (which already records an error reply whose
        traceback was hidden): a time budget for the whole notebook, a cap on output
        kept, a dead kernel turned into failed cells, and IPython's hooks reset to
        their state at kernel start before every test cell, so trainee code cannot
        see or rewrite the tests as they run."""

        def __init__(self, **kwargs: Any):
            kwargs["kernel_manager_class"] = sandbox.SandboxKernelManager
            super().__init__(**kwargs)

        def preprocess(self, nb, resources=None, km=None):
            path = (resources or {}).get("metadata", {}).get("path")
            if path and sandbox.current is not None:
                sandbox.current.workdir_share(Path(path))
            return super().preprocess(nb, resources, km)

        def _get_timeout(self, cell):
            timeout = super()._get_timeout(cell)
            if _job is None or timeout is None:
                return timeout
            return max(1, min(timeout, int(_job.deadline - time.monotonic()) + 1))

        async def async_execute_cell(
            self, cell, cell_index, execution_count=None, store_history=True
        ):
            job = _job
            if cell.cell_type != "code" or not cell.source.strip() or job is None:
                return await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            if job.kernel_died:
                cell.outputs = [error("KernelDied", "not run: the kernel had stopped")]
                return cell
            if time.monotonic() >= job.deadline:
                job.job_time_exceeded = True
                cell.outputs = [
                    error(
                        "JobTimeLimit", "not run: the notebook's time limit was reached"
                    )
                ]
                return cell
            try:
                if cell_index == 0 or not getattr(self, "_guard_ready", False):
                    await self._silent(GUARD_SETUP)
                    self._guard_ready = True
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and not meta.get("solution"):
                    await self._silent(GUARD_RESTORE)
                result = await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            except DeadKernelError:
                job.kernel_died = True
                cell.outputs = [
                    error(
                        "KernelDied",
                        "the kernel stopped (it crashed, exited or went over a limit)",
                    )
                ]
                return cell
            for output in cell.outputs:
                if (
                    output.get("output_type") == "error"
                    and output.get("ename") == "CellTimeoutError"
                ):
                    job.timed_out.append(
                        cell.metadata.get("nbgrader", {}).get("grade_id")
                        or f"cell {cell_index + 1}"
                    )
            return result

        async def _silent(self, code: str) -> None:
            msg_id = await ensure_async(
                self.kc.execute(code, silent=True, store_history=False)
            )
            await self.async_wait_for_reply(msg_id)

        def output(self, outs, msg, display_id, cell_index):
            job = _job
            if job is not None:
                size = len(json.dumps(msg.get("content", {}), default=str))
                job.output_bytes += size
                if job.output_bytes > settings.GRADING_MAX_OUTPUT_KB * 1024:
                    if not job.output_truncated:
                        job.output_truncated = True
                        outs.append(
                            new_output(
                                "stream", name="stderr", text="[output truncated]\n"
                            )
                        )
                    return None
            return super().output(outs, msg, display_id, cell_index)

    _executor_class = SandboxExecute
    return SandboxExecute


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
                _executor(),
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
