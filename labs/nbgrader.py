"""The one adapter around nbgrader's Python API.

Each call works in a course directory that the caller owns (usually a throw-away
temporary one): nbgrader's own gradebook there is scratch, never our record.
Importing nbgrader is slow (~3 s), so it happens on first use, in long-lived
processes (the web server or a Celery worker), not per request.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

COURSE_ID = "silkroute"


@dataclass(frozen=True)
class AutogradeResult:
    success: bool
    score: float
    max_score: float
    log: str
    error: str


class NbgraderError(Exception):
    """nbgrader failed; the message says which step and why."""


def _gradebook_version_once() -> None:
    """nbgrader runs ``alembic heads`` each time it creates a gradebook (every
    generate_assignment in a new course directory): a new Python process that
    imports nbgrader, about 3 s of CPU here, for an answer fixed by the installed
    nbgrader. This process asks once and reuses the answer."""
    import nbgrader.api

    if not hasattr(nbgrader.api.get_alembic_version, "cache_info"):
        nbgrader.api.get_alembic_version = functools.cache(
            nbgrader.api.get_alembic_version
        )


def _api(root: Path, *, cell_timeout: int = 30, extra: dict | None = None):
    """nbgrader's API on course directory ``root``; ``extra``: more traitlets config
    (section → values), e.g. the grading sandbox's executor."""
    # nbgrader runs `alembic` as a subprocess when it creates a gradebook.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    _gradebook_version_once()
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.Execute.timeout = cell_timeout
    for section, values in (extra or {}).items():
        for name, value in values.items():
            setattr(getattr(config, section), name, value)
    return NbGraderAPI(config=config)


def assignment_generate(*, root: Path, assignment: str) -> Path:
    """Make the student release of ``root/source/<assignment>/``; return its folder."""
    result = _api(root).generate_assignment(assignment, force=True, create=True)
    if not result.get("success"):
        raise NbgraderError(
            "generate_assignment failed: "
            + (result.get("error") or result.get("log") or "no details")
        )
    return root / "release" / assignment


def submission_autograde(
    *, root: Path, assignment: str, student: str, cell_timeout: int = 30
) -> AutogradeResult:
    """Autograde ``root/submitted/<student>/<assignment>/`` and read the scores."""
    from nbgrader.api import Gradebook, MissingEntry

    result = _api(root, cell_timeout=cell_timeout).autograde(
        assignment, student, force=True, create=True
    )
    score = max_score = 0.0
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
            score, max_score = float(submission.score), float(submission.max_score)
        except MissingEntry:
            pass
    return AutogradeResult(
        success=bool(result.get("success")),
        score=score,
        max_score=max_score,
        log=result.get("log") or "",
        error=result.get("error") or "",
    )
