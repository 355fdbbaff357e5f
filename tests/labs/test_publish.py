"""Publishing a lab runs nbgrader and its self-check; a lab that fails stays hidden."""

import json
import shutil
from pathlib import Path

import pytest

from labs.models import Lab
from labs.services import lab_publish, lab_release_dir, labs_import

REPO_LABS = Path(__file__).resolve().parents[2] / "labs" / "notebooks"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def lab_dirs(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.LABS_SOURCE_DIR = tmp_path / "labs"
    shutil.copytree(DATA / "tiny-lab", tmp_path / "labs" / "tiny-lab")
    return tmp_path / "labs"


def test_a_good_lab_publishes_with_a_release_without_solutions(db, lab_dirs):
    """Solutions earn full marks, the blank release scores below the pass mark."""
    (lab,) = labs_import()
    assert lab.status == Lab.Status.PUBLISHED, lab.check_log
    assert "solution: autograde ran, score 2 of 2" in lab.check_log
    assert "release: autograde ran, score 0 of 2" in lab.check_log
    release = json.loads((lab_release_dir(lab) / "tiny-lab.ipynb").read_text())
    text = "".join("".join(cell["source"]) for cell in release["cells"])
    assert "BEGIN SOLUTION" not in text and "return 2 * x" not in text
    assert "BEGIN HIDDEN TESTS" not in text and "double(-3)" not in text
    assert (lab_release_dir(lab) / "data" / "qty.csv").exists()


def test_a_lab_whose_solution_is_wrong_stays_unpublished_with_the_reason(db, lab_dirs):
    """A wrong solution fails the self-check; the admin sees why."""
    notebook = lab_dirs / "tiny-lab" / "tiny-lab.ipynb"
    notebook.write_text(notebook.read_text().replace("return 2 * x", "return 3 * x"))
    (lab,) = labs_import()
    assert lab.status == Lab.Status.FAILED
    assert "do not earn full marks" in lab.check_log
    assert not lab_release_dir(lab).exists()


def test_a_lab_whose_points_disagree_with_its_notebook_fails(db, lab_dirs):
    """lab.yaml's points must equal the graded cells' points."""
    spec = lab_dirs / "tiny-lab" / "lab.yaml"
    spec.write_text(spec.read_text().replace("points: 2", "points: 5"))
    (lab,) = labs_import()
    assert lab.status == Lab.Status.FAILED
    assert "total 2 points, but the lab says 5" in lab.check_log


def test_a_release_that_already_passes_is_refused(db, lab_dirs):
    """If the blank notebook reaches the pass mark, the lab teaches nothing."""
    notebook = lab_dirs / "tiny-lab" / "tiny-lab.ipynb"
    text = notebook.read_text()
    text = text.replace("double(QTY) == 2 * QTY", "True").replace(
        "double(-3) == -6", "True"
    )
    notebook.write_text(text)
    (lab,) = labs_import()
    assert lab.status == Lab.Status.FAILED
    assert "already reaches the pass mark" in lab.check_log


def test_a_missing_data_file_is_reported(db, lab_dirs):
    (lab_dirs / "tiny-lab" / "data" / "qty.csv").unlink()
    (lab,) = labs_import()
    assert lab.status == Lab.Status.FAILED
    assert "Data file data/qty.csv not found" in lab.check_log


@pytest.mark.selfcheck
@pytest.mark.parametrize(
    "slug", sorted(p.parent.name for p in REPO_LABS.glob("*/lab.yaml"))
)
def test_every_shipped_lab_passes_its_self_check(db, settings, tmp_path, slug):
    """The five supply-chain labs in labs/notebooks/ publish cleanly."""
    settings.VAR_DIR = tmp_path / "var"
    lab = next(lab for lab in labs_import(publish=False) if lab.slug == slug)
    lab_publish(lab=lab)
    assert lab.status == Lab.Status.PUBLISHED, lab.check_log
    assert f"score {lab.points:g} of {lab.points:g}" in lab.check_log


def test_editing_a_published_notebook_publishes_it_again(db, lab_dirs):
    """The source is hashed: a changed notebook is checked again on the next import."""
    (lab,) = labs_import()
    assert lab.status == Lab.Status.PUBLISHED
    notebook = lab_dirs / "tiny-lab" / "tiny-lab.ipynb"
    notebook.write_text(notebook.read_text().replace("return 2 * x", "return 3 * x"))
    (again,) = labs_import()
    assert again.status == Lab.Status.FAILED
    assert "do not earn full marks" in again.check_log


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _uploaded_lab(settings, tmp_path, archive: bytes) -> Lab:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    return Lab.objects.create(
        slug="uploaded-lab",
        title="Uploaded",
        notebook="tiny-lab.ipynb",
        data_files=["data/qty.csv"],
        points=2,
        pass_mark=50,
        source_archive=SimpleUploadedFile("lab.zip", archive),
    )


def test_an_instructor_can_publish_a_lab_uploaded_as_a_zip(db, settings, tmp_path):
    """A .zip of the lab folder (one top folder is fine) publishes like a repo lab."""
    source = DATA / "tiny-lab"
    lab = _uploaded_lab(
        settings,
        tmp_path,
        _zip(
            {
                "tiny-lab/tiny-lab.ipynb": (source / "tiny-lab.ipynb").read_bytes(),
                "tiny-lab/data/qty.csv": (source / "data" / "qty.csv").read_bytes(),
            }
        ),
    )
    lab_publish(lab=lab)
    assert lab.status == Lab.Status.PUBLISHED, lab.check_log
    assert (lab_release_dir(lab) / "tiny-lab.ipynb").exists()


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (_zip({"../evil.ipynb": b"{}"}), "Unsafe path in the archive"),
        (_zip({"/etc/evil": b"x"}), "Unsafe path in the archive"),
        (b"this is not a zip", "not a valid .zip archive"),
    ],
)
def test_a_bad_upload_is_refused_with_its_reason(
    db, settings, tmp_path, archive, reason
):
    lab = _uploaded_lab(settings, tmp_path, archive)
    lab_publish(lab=lab)
    assert lab.status == Lab.Status.FAILED
    assert reason in lab.check_log
    assert not (tmp_path / "evil.ipynb").exists()


def test_an_unchanged_lab_reuses_its_checked_release(db, lab_dirs):
    """Importing the same source again (a new database, the same var/) does not run
    nbgrader again: the release carries the digest and report of its check."""
    (lab,) = labs_import()
    assert lab.status == Lab.Status.PUBLISHED
    report = lab.check_log
    Lab.objects.all().delete()
    release = lab_release_dir(lab) / "tiny-lab.ipynb"
    stamp = release.stat().st_mtime_ns
    (again,) = labs_import()
    assert again.status == Lab.Status.PUBLISHED
    assert again.check_log == report
    assert release.stat().st_mtime_ns == stamp  # not generated again
