"""Our grading pipeline scores exactly as `nbgrader autograde` does.

For every shipped lab, four notebooks — right (the source's solutions), half right
(the other solutions left as handed out), wrong code (every other solution made to
return or leave None) and blank (the release) — are graded by our pipeline
(``submission_create`` + ``submission_autograde``: the grading template, the
sandbox, our gradebook) and by the nbgrader command line in a course directory of
its own (``nbgrader generate_assignment``, then ``nbgrader autograde`` over all four,
scores read from its gradebook). Every graded cell's points and the totals agree.

The command-line runs (one course per lab) start in the background when the module
starts, two at a time, while our pipeline grades in the test process.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from grading import services
from labs.models import Lab
from labs.services import lab_release_dir, labs_import
from tests.factories import UserFactory

pytestmark = pytest.mark.selfcheck

REPO_LABS = Path(__file__).resolve().parents[2] / "labs" / "notebooks"
SLUGS = sorted(p.parent.name for p in REPO_LABS.glob("*/lab.yaml"))
BIN = Path(sys.executable).parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
KINDS = ("right", "half", "wrong", "blank")


# --- The submissions ------------------------------------------------------------------


def _solution(source: str) -> str:
    """A source cell as its author wrote it, without nbgrader's markers."""
    return "\n".join(
        line for line in source.splitlines() if line.strip() not in (BEGIN, END)
    )


class _ReturnNone(ast.NodeTransformer):
    def visit_Return(self, node: ast.Return) -> ast.Return:
        return ast.Return(value=ast.Constant(None))


def _wrong(source: str) -> str:
    """The solution with every ``return`` giving None and, in a solution region
    that returns nothing, each variable it sets left as None: code that runs but is
    wrong."""
    lines = source.splitlines()
    while any(line.strip() == BEGIN for line in lines):
        start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == END)
        lines[start : end + 1] = [_wrong_region("\n".join(lines[start + 1 : end]))]
    return "\n".join(lines)


def _wrong_region(region: str) -> str:
    indent = region[: len(region) - len(region.lstrip())].rpartition("\n")[2]
    tree = ast.parse(textwrap.dedent(region))
    returns = any(isinstance(node, ast.Return) for node in ast.walk(tree))
    code = ast.unparse(ast.fix_missing_locations(_ReturnNone().visit(tree)))
    if not returns:
        targets = [
            target
            for statement in tree.body
            if isinstance(statement, ast.Assign)
            for target in statement.targets
        ]
        names = [t for t in targets if isinstance(t, ast.Name)] + [
            element
            for t in targets
            if isinstance(t, ast.Tuple)
            for element in t.elts
            if isinstance(element, ast.Name) and element.id != "_"
        ]
        code += "".join(f"\n{name.id} = None" for name in names)
    return textwrap.indent(code, indent)


def submissions(source: dict, release: dict) -> dict[str, bytes]:
    """The four notebooks of one lab, built from its release and its source."""
    solutions = {
        cell["metadata"]["nbgrader"]["grade_id"]: "".join(cell["source"])
        for cell in source["cells"]
        if cell["metadata"].get("nbgrader", {}).get("solution")
    }
    order = list(solutions)
    answers = {
        "right": {gid: _solution(text) for gid, text in solutions.items()},
        "half": {gid: _solution(solutions[gid]) for gid in order[: len(order) // 2]},
        "wrong": {
            gid: _wrong(text) if index % 2 else _solution(text)
            for index, (gid, text) in enumerate(solutions.items())
        },
        "blank": {},
    }
    notebooks = {}
    for kind in KINDS:
        notebook = json.loads(json.dumps(release))
        for cell in notebook["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in answers[kind]:
                cell["source"] = answers[kind][grade_id]
        notebooks[kind] = json.dumps(notebook, indent=1).encode()
    return notebooks


# --- nbgrader's command line ----------------------------------------------------------


@dataclass
class CliCourse:
    """One lab graded by the nbgrader command line: the notebooks and the scores."""

    slug: str
    release: Path  # what generate_assignment handed out
    notebooks: dict[str, bytes]
    cells: dict[str, dict[str, float | None]]  # kind → grade_id → points
    maxima: dict[str, float]  # grade_id → points the cell can earn
    totals: dict[str, tuple[float, float]]  # kind → (score, max_score)


def _nbgrader(root: Path, *args: str) -> None:
    result = subprocess.run(  # noqa: S603
        [str(BIN / "nbgrader"), *args],
        cwd=root,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"nbgrader {args[0]} failed:\n{result.stderr[-4000:]}")


def cli_course(root: Path, slug: str) -> CliCourse:
    """Generate the lab's assignment once, then autograde the four notebooks."""
    spec = yaml.safe_load((REPO_LABS / slug / "lab.yaml").read_text())
    notebook = spec["notebook"]
    shutil.copytree(REPO_LABS / slug, root / "source" / slug)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'equivalence'\n"
    )
    _nbgrader(root, "generate_assignment", slug, "--force")
    source = json.loads((root / "source" / slug / notebook).read_text())
    release = json.loads((root / "release" / slug / notebook).read_text())
    notebooks = submissions(source, release)
    for kind, data in notebooks.items():
        folder = root / "submitted" / kind / slug
        folder.mkdir(parents=True)
        (folder / notebook).write_bytes(data)
    _nbgrader(root, "autograde", slug, "--force")

    from nbgrader.api import Gradebook

    cells: dict[str, dict[str, float | None]] = {}
    maxima: dict[str, float] = {}
    totals = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for kind in KINDS:
            found = gradebook.find_submission_notebook(Path(notebook).stem, slug, kind)
            cells[kind] = {
                grade.name: None if grade.needs_manual_grade else float(grade.score)
                for grade in found.grades
            }
            maxima.update({g.name: float(g.max_score) for g in found.grades})
            submission = gradebook.find_submission(slug, kind)
            totals[kind] = (float(submission.score), float(submission.max_score))
    return CliCourse(slug, root / "release" / slug, notebooks, cells, maxima, totals)


@pytest.fixture(scope="module")
def cli_courses(tmp_path_factory) -> dict[str, Future[CliCourse]]:
    """Every lab's command-line grading, running in the background, two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {
            slug: pool.submit(cli_course, tmp_path_factory.mktemp(f"cli-{slug}"), slug)
            for slug in SLUGS
        }


# --- The comparison -------------------------------------------------------------------


@pytest.mark.parametrize("slug", SLUGS)
def test_our_scores_equal_nbgrader_autograde_from_the_command_line(
    slug, cli_courses, db, settings, tmp_path, queued
):
    """Right, half right, wrong and blank notebooks: the same points per graded cell
    and the same totals as `nbgrader autograde`."""
    course = cli_courses[slug].result(timeout=900)
    settings.VAR_DIR = tmp_path / "var"
    lab = next(lab for lab in labs_import(publish=False) if lab.slug == slug)
    shutil.copytree(course.release, lab_release_dir(lab))
    lab.status, lab.max_attempts = Lab.Status.PUBLISHED, len(KINDS)
    lab.save()
    trainee = UserFactory(role="trainee")

    ours_cells, ours_maxima, ours_totals = {}, {}, {}
    for kind in KINDS:
        submission = services.submission_create(
            user=trainee, lab=lab, data=course.notebooks[kind]
        )
        graded = services.submission_autograde(submission_id=submission.pk)
        assert graded.status == "graded", graded.error
        ours_cells[kind] = {
            c.grade_id: None if c.points is None else float(c.points)
            for c in graded.cells.all()
        }
        ours_maxima.update(
            {c.grade_id: float(c.max_points) for c in graded.cells.all()}
        )
        ours_totals[kind] = (float(graded.score), float(graded.max_score))

    assert ours_cells == course.cells
    assert ours_maxima == course.maxima
    assert ours_totals == course.totals
    # The solutions earn every autograded point; a manual answer waits (None).
    right = course.cells["right"]
    assert all(points in (None, course.maxima[gid]) for gid, points in right.items())
    maximum = course.totals["right"][1]
    assert maximum == float(lab.points)
    assert course.totals["blank"][0] < maximum * lab.pass_mark / 100
    for kind in ("half", "wrong"):  # each really is partly right
        assert 0 < course.totals[kind][0] < maximum, (kind, course.cells[kind])
