"""Read the curriculum the way the tests need it: counts, quizzes and their keys.

Expected counts come from the YAML in settings.CURRICULUM_DIR and correct answers
from the stored block values, never typed in, so the tests follow the content when
programmes, courses or questions are added.
"""

from decimal import Decimal
from pathlib import Path

import yaml
from django.conf import settings
from wagtail.models import Locale

from courses.models import LessonPage, ProgrammePage


def _load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def curriculum() -> dict[str, dict]:
    """Each programme of settings.CURRICULUM_DIR by slug, as the importer finds it:
    its programme.yaml with "courses" replaced by the contents of the course files."""
    content = Path(settings.CURRICULUM_DIR)
    programmes = {}
    for directory in sorted(content.iterdir()):
        if not (directory / "programme.yaml").exists():
            continue
        programme = _load(directory / "programme.yaml")
        programme["courses"] = [
            _load(directory / f"{name}.yaml") for name in programme["courses"]
        ]
        programmes[programme["slug"]] = programme
    return programmes


def curriculum_lessons(programme: dict) -> list[dict]:
    """The lessons of a programme of ``curriculum()``, in reading order."""
    return [lesson for course in programme["courses"] for lesson in course["lessons"]]


def curriculum_quizzes(programme: dict) -> list[dict]:
    """The quiz blocks of a programme of ``curriculum()``, in reading order."""
    return [
        block
        for lesson in curriculum_lessons(programme)
        for block in lesson.get("body") or []
        if block.get("type") == "quiz"
    ]


def quiz_blocks(lesson: LessonPage) -> list:
    return [block for block in lesson.body if block.block_type == "quiz"]


def quiz_lessons(
    locale: Locale | None = None, *, programme: ProgrammePage | None = None
) -> list[tuple[LessonPage, object]]:
    """Every (lesson, quiz block) of ``locale`` (default locale when not given), in
    reading order; only those of ``programme`` (in any language) when it is given."""
    locale = locale or Locale.get_default()
    lessons = LessonPage.objects.live().filter(locale=locale)
    if programme is not None:
        lessons = lessons.descendant_of(programme.get_translation(locale))
    return [
        (lesson, block)
        for lesson in lessons.order_by("path")
        for block in quiz_blocks(lesson)
    ]


def correct_answer(question) -> list[str]:
    value = question.value
    if question.block_type == "numeric":
        return [str(value["answer"])]
    return [str(i) for i, choice in enumerate(value["choices"]) if choice["correct"]]


def wrong_answer(question) -> list[str]:
    """An answer that is wrong however the question is set."""
    value = question.value
    if question.block_type == "numeric":
        return [str(Decimal(value["answer"]) + Decimal(value["tolerance"]) + 1000)]
    correct = {i for i, choice in enumerate(value["choices"]) if choice["correct"]}
    if question.block_type == "single":
        wrong = next(i for i in range(len(value["choices"])) if i not in correct)
        return [str(wrong)]
    return [str(i) for i in range(len(value["choices"])) if i not in correct] or ["0"]


def correct_answers(block) -> dict[str, list[str]]:
    return {q.id: correct_answer(q) for q in block.value["questions"]}


def numeric_questions(block) -> list:
    return [q for q in block.value["questions"] if q.block_type == "numeric"]


def choice_questions(block, kind: str) -> list:
    return [q for q in block.value["questions"] if q.block_type == kind]


def lab_opened_by(*, programme: ProgrammePage, slug: str) -> LessonPage:
    """Make the programme's last lesson open the lab ``slug`` (a lab block appended
    to its body, saved as the page's current content): the lab is then one of the
    programme's (``courses.teaching``)."""
    lesson = LessonPage.objects.descendant_of(programme).order_by("-path").first()
    lesson.body.append(("lab", {"lab": slug, "title": ""}))
    lesson.save()
    return lesson


def teacher_of(*programmes: ProgrammePage, **fields):
    """A new instructor who teaches ``programmes``, assigned as seed_demo does."""
    from courses.services import programme_instructors_assign
    from tests.factories import UserFactory

    user = UserFactory(role="instructor", **fields)
    for programme in programmes:
        programme_instructors_assign(programme=programme, instructors=[user])
    return user
