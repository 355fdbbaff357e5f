"""Grading fixtures: a small published lab with visible, hidden and manual cells."""

import shutil
from pathlib import Path

import pytest

from labs.nbgrader import assignment_generate
from tests.courses.helpers import lab_opened_by, teacher_of

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def grading_release(tmp_path_factory):
    """The nbgrader release of tests/grading/data/grading-lab, generated once."""
    root = tmp_path_factory.mktemp("grading-lab-course")
    shutil.copytree(DATA / "grading-lab", root / "source" / "grading-lab")
    (root / "source" / "grading-lab" / "lab.yaml").unlink()
    return assignment_generate(root=root, assignment="grading-lab")


@pytest.fixture
def instructor(programme):
    """Here an instructor who teaches the seeded programme, whose last lesson opens
    the grading lab (``grading_lab``); tests/conftest.py's has no assignment."""
    return teacher_of(programme)


@pytest.fixture
def grading_lab(db, settings, grading_release, programme):
    """The grading lab, published and opened by the seeded programme's last lesson:
    its source in LABS_SOURCE_DIR, its release in place. (Its grading template is
    built on first use and cached by digest.)"""
    from labs.models import Lab
    from labs.services import _source_digest, lab_release_dir

    settings.LABS_SOURCE_DIR = DATA
    files = ["grading-lab.ipynb", "data/qty.csv"]
    lab = Lab.objects.create(
        slug="grading-lab",
        title="Grading lab",
        title_zh="评分实验",
        notebook="grading-lab.ipynb",
        data_files=["data/qty.csv"],
        points=5,
        pass_mark=60,
        max_attempts=3,
        source_sha256=_source_digest(DATA / "grading-lab", files),
        status=Lab.Status.PUBLISHED,
    )
    release = lab_release_dir(lab)
    if release.exists():
        shutil.rmtree(release)
    shutil.copytree(grading_release, release)
    lab_opened_by(programme=programme, slug=lab.slug)
    return lab


@pytest.fixture
def queued(monkeypatch):
    """Submissions queued for grading, recorded instead of sent to the broker."""
    from grading import services

    sent: list[int] = []
    monkeypatch.setattr(services, "_queue", sent.append)
    return sent
