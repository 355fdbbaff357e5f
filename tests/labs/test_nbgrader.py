"""The adapter around nbgrader (labs/nbgrader.py)."""

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from labs.nbgrader import assignment_generate
from tests.labs.conftest import DATA


def _course(root: Path) -> Path:
    shutil.copytree(DATA / "tiny-lab", root / "source" / "tiny-lab")
    (root / "source" / "tiny-lab" / "lab.yaml").unlink()
    return root


def _gradebook_version(root: Path) -> str:
    with closing(sqlite3.connect(root / "gradebook.db")) as db:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_a_new_gradebook_does_not_ask_alembic_again(tmp_path, monkeypatch):
    """nbgrader runs `alembic heads` (a new Python process, seconds of CPU) for every
    gradebook it creates; the adapter asks once per process. A second course's
    gradebook starts no process and records nbgrader's current schema version."""
    import nbgrader
    from alembic.script import ScriptDirectory

    first = _course(tmp_path / "first")
    assignment_generate(root=first, assignment="tiny-lab")
    started = []
    run = subprocess.check_output

    def check_output(args, *rest, **options):
        started.append(args)
        return run(args, *rest, **options)

    monkeypatch.setattr(subprocess, "check_output", check_output)
    second = _course(tmp_path / "second")
    assignment_generate(root=second, assignment="tiny-lab")

    assert started == []
    head = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic"))
    assert _gradebook_version(second) == _gradebook_version(first)
    assert _gradebook_version(second) == head.get_current_head()
