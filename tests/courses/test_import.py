"""courses.content_import: idempotent re-imports and clear errors for bad files."""

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from wagtail.models import Page

from courses.content_import import ContentError, curriculum_import
from courses.models import CoursePage, LessonPage, ProgrammePage, Skill, SkillAlignment
from tests.courses.helpers import curriculum, curriculum_lessons, quiz_lessons


def test_second_import_creates_nothing_and_keeps_page_ids(db):
    """Re-importing the curriculum updates pages in place: none are created, every
    page keeps its id, and quiz ids (block ids) stay the same. Each programme,
    course and lesson of the YAML is one page per language."""
    pages_before = dict(Page.objects.values_list("url_path", "pk"))
    quizzes_before = {lesson.pk: block.id for lesson, block in quiz_lessons()}
    skills_before = set(Skill.objects.values_list("pk", flat=True))

    report = curriculum_import()

    assert report.created == []
    pages = [
        *ProgrammePage.objects.all(),
        *CoursePage.objects.all(),
        *LessonPage.objects.all(),
    ]
    pages_per_language = sum(
        1 + len(programme["courses"]) + len(curriculum_lessons(programme))
        for programme in curriculum().values()
    )
    assert len(pages) == pages_per_language * len(settings.LANGUAGES)
    assert {page.url_path for page in pages} <= set(report.updated)
    assert dict(Page.objects.values_list("url_path", "pk")) == pages_before
    assert {lesson.pk: block.id for lesson, block in quiz_lessons()} == quizzes_before
    assert set(Skill.objects.values_list("pk", flat=True)) == skills_before


# --- Malformed content ----------------------------------------------------------------

SKILLS = [
    {
        "key": "test-skill",
        "name": {"en": "Test skill", "zh-hans": "测试技能"},
        "framework": "cn-occupation",
        "code": "4-01-02-02",
    }
]


def _course(**changes) -> dict:
    course = {
        "slug": "bad-course",
        "title": {"en": "Bad course", "zh-hans": "坏课程"},
        "summary": {"en": "A course.", "zh-hans": "一门课程。"},
        "skills": ["test-skill"],
        "lessons": [
            {
                "slug": "only-lesson",
                "title": {"en": "Only lesson", "zh-hans": "唯一一课"},
                "summary": {"en": "A lesson.", "zh-hans": "一课。"},
                "body": [
                    {"type": "heading", "text": {"en": "Hello", "zh-hans": "你好"}},
                    {
                        "type": "quiz",
                        "title": "Quiz",
                        "questions": [
                            {
                                "kind": "single",
                                "prompt": "Pick one",
                                "choices": [
                                    {"text": "Right", "correct": True},
                                    {"text": "Wrong"},
                                ],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    course.update(changes)
    return course


def _programme(**changes) -> dict:
    programme = {
        "slug": "bad-programme",
        "title": {"en": "Bad programme", "zh-hans": "坏项目"},
        "summary": {"en": "A programme.", "zh-hans": "一个项目。"},
        "skills": ["test-skill"],
        "courses": ["01-bad-course"],
    }
    programme.update(changes)
    return programme


def _write(root: Path, programme: dict, course: dict, skills=None) -> Path:
    skills = SKILLS if skills is None else skills
    (root / "skills.yaml").write_text(yaml.safe_dump(skills, allow_unicode=True))
    directory = root / "bad-programme"
    directory.mkdir()
    (directory / "programme.yaml").write_text(
        yaml.safe_dump(programme, allow_unicode=True)
    )
    (directory / "01-bad-course.yaml").write_text(
        yaml.safe_dump(course, allow_unicode=True)
    )
    return root


def _lesson(course: dict) -> dict:
    return course["lessons"][0]


def test_a_well_formed_small_directory_imports(db, tmp_path):
    """The small content used below imports cleanly as it is (so each error below
    comes from its one defect)."""
    report = curriculum_import(_write(tmp_path, _programme(), _course()))

    assert "/home/bad-programme/bad-course/only-lesson/" in report.created
    assert LessonPage.objects.filter(slug="only-lesson").count() == 2


def _broken_single_choice() -> dict:
    course = _course()
    quiz = _lesson(course)["body"][1]
    quiz["questions"][0]["choices"][1]["correct"] = True
    return course


def _unknown_block() -> dict:
    course = _course()
    _lesson(course)["body"].append({"type": "video", "url": "https://x.example"})
    return course


def _lesson_without_title() -> dict:
    course = _course()
    del _lesson(course)["title"]
    return course


CASES = {
    "programme without title": (
        lambda: (_programme(title=None), _course()),
        ["programme.yaml", "missing 'title'"],
    ),
    "lesson without title": (
        lambda: (_programme(), _lesson_without_title()),
        ["01-bad-course.yaml lesson 1", "missing 'title'"],
    ),
    "single choice with two answers": (
        lambda: (_programme(), _broken_single_choice()),
        ["01-bad-course.yaml lesson 1", "question 1", "single-choice", "one answer"],
    ),
    "unknown skill on programme": (
        lambda: (_programme(skills=["test-skill", "no-such-skill"]), _course()),
        ["programme.yaml", "unknown skills", "no-such-skill"],
    ),
    "unknown skill on course": (
        lambda: (_programme(), _course(skills=["ghost-skill"])),
        ["01-bad-course.yaml", "unknown skills", "ghost-skill"],
    ),
    "unknown block type": (
        lambda: (_programme(), _unknown_block()),
        ["01-bad-course.yaml lesson 1 body[2]", "unknown block type", "'video'"],
    ),
    "missing course file": (
        lambda: (_programme(courses=["01-bad-course", "02-missing"]), _course()),
        ["programme.yaml", "02-missing.yaml", "not found"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_malformed_content_raises_a_clear_error_and_imports_nothing(db, tmp_path, case):
    """A defect raises ContentError naming the file, the place and the problem, and
    the import is rolled back: no page of the bad programme is left behind."""
    make, expected = CASES[case]
    programme, course = make()
    root = _write(tmp_path, programme, course)

    with pytest.raises(ContentError) as error:
        curriculum_import(root)

    message = str(error.value)
    for part in expected:
        assert part in message, message
    assert not ProgrammePage.objects.filter(slug="bad-programme").exists()
    assert not Skill.objects.filter(key="test-skill").exists()


def test_invalid_yaml_raises_content_error(db, tmp_path):
    """A file that is not YAML raises ContentError naming the file."""
    root = _write(tmp_path, _programme(), _course())
    (root / "bad-programme" / "01-bad-course.yaml").write_text("slug: [unclosed\n")

    with pytest.raises(ContentError, match="01-bad-course.yaml: not valid YAML"):
        curriculum_import(root)


# --- Skill alignments -----------------------------------------------------------------

TARIFFS = "http://data.europa.eu/esco/skill/21a3967a-dca2-4efa-9e5f-943f15527a47"
CUSTOMS = "http://data.europa.eu/esco/skill/42ab725f-e57f-4320-a9fd-ac3d6717963d"


def _aligned(*alignments) -> list[dict]:
    return [{**SKILLS[0], "alignments": list(alignments)}]


def _esco(name: str, uri: str) -> dict:
    return {"framework": "esco", "name": name, "uri": uri}


def test_a_skills_alignments_are_imported_in_order_and_replaced_on_reimport(
    db, tmp_path
):
    """Both language copies of a skill get its alignments, in the file's order; a
    second import with a changed list leaves exactly the new list."""
    first = tmp_path / "first"
    first.mkdir()
    skills = _aligned(_esco("international tariffs", TARIFFS), _esco("x", CUSTOMS))
    curriculum_import(_write(first, _programme(), _course(), skills))

    copies = Skill.objects.filter(key="test-skill")
    assert copies.count() == 2
    for skill in copies:
        ordered = skill.alignments.order_by("sort_order")
        assert [(a.sort_order, a.name, a.uri) for a in ordered] == [
            (0, "international tariffs", TARIFFS),
            (1, "x", CUSTOMS),
        ]

    second = tmp_path / "second"
    second.mkdir()
    skills = _aligned(_esco("ensure customs compliance", CUSTOMS))
    curriculum_import(_write(second, _programme(), _course(), skills))

    for skill in Skill.objects.filter(key="test-skill"):
        assert [(a.name, a.uri) for a in skill.alignments.all()] == [
            ("ensure customs compliance", CUSTOMS)
        ]
    assert SkillAlignment.objects.filter(skill__key="test-skill").count() == 2


ALIGNMENT_CASES = {
    "an ESCO URI of the wrong form": (
        _esco("tariffs", "https://data.europa.eu/esco/skill/21a3967a"),
        ["skills.yaml[0].alignments[0]", "An ESCO skill URI looks like"],
    ),
    "no name": (
        {"framework": "esco", "uri": TARIFFS},
        ["skills.yaml[0].alignments[0]", "missing 'name'"],
    ),
    "an unknown framework": (
        {"framework": "onet", "name": "tariffs", "code": "13-1041"},
        ["skills.yaml[0].alignments[0]", "unknown framework 'onet'"],
    ),
    "neither code nor URI": (
        {"framework": "esco", "name": "tariffs"},
        ["skills.yaml[0].alignments[0]", "framework code or URI"],
    ),
    "a bad occupation code": (
        {"framework": "cn-occupation", "name": "电子商务师", "code": "4-1-2-2"},
        ["skills.yaml[0].alignments[0]", "An occupation code looks like 4-01-02-02"],
    ),
}


@pytest.mark.parametrize("case", ALIGNMENT_CASES)
def test_a_malformed_alignment_is_a_clear_error_and_imports_nothing(db, tmp_path, case):
    alignment, expected = ALIGNMENT_CASES[case]
    root = _write(tmp_path, _programme(), _course(), _aligned(alignment))

    with pytest.raises(ContentError) as error:
        curriculum_import(root)

    for part in expected:
        assert part in str(error.value), str(error.value)
    assert not Skill.objects.filter(key="test-skill").exists()
    assert not SkillAlignment.objects.filter(skill__key="test-skill").exists()


def test_alignments_that_are_not_a_list_are_a_clear_error(db, tmp_path):
    skills = [{**SKILLS[0], "alignments": _esco("tariffs", TARIFFS)}]
    root = _write(tmp_path, _programme(), _course(), skills)

    with pytest.raises(
        ContentError, match=r"skills.yaml\[0\]: 'alignments' must be a list"
    ):
        curriculum_import(root)
