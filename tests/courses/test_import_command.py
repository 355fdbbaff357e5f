import pytest
from django.core.management import CommandError, call_command

from courses.models import ProgrammePage


def test_import_curriculum_updates_in_place_and_reports(db, settings, capsys):
    """Importing the shipped content again creates nothing and says so."""
    before = ProgrammePage.objects.count()
    call_command("import_curriculum", str(settings.CURRICULUM_DIR))
    assert "0 pages created" in capsys.readouterr().out
    assert ProgrammePage.objects.count() == before


def test_import_curriculum_refuses_bad_content_with_its_reason(db, tmp_path):
    """A malformed programme is rejected with the file and field named."""
    programme = tmp_path / "broken"
    programme.mkdir()
    (programme / "programme.yaml").write_text("slug: broken\nsummary: no title\n")
    with pytest.raises(CommandError, match="programme.yaml: missing 'title'"):
        call_command("import_curriculum", str(tmp_path))
    assert not ProgrammePage.objects.filter(slug="broken").exists()


def test_import_curriculum_needs_a_directory(db, tmp_path):
    """A path that is not a directory is a clear error, not a traceback."""
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("import_curriculum", str(tmp_path / "missing"))
