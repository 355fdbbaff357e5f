"""Read the imported curriculum the way the tests need it: quizzes and their keys.

Correct answers are always computed from the stored block values, never typed in,
so the tests follow the content when it changes.
"""

from decimal import Decimal

from wagtail.models import Locale

from courses.models import LessonPage


def quiz_blocks(lesson: LessonPage) -> list:
    return [block for block in lesson.body if block.block_type == "quiz"]


def quiz_lessons(locale: Locale | None = None) -> list[tuple[LessonPage, object]]:
    """Every (lesson, quiz block) of ``locale`` (default locale when not given)."""
    locale = locale or Locale.get_default()
    return [
        (lesson, block)
        for lesson in LessonPage.objects.live().filter(locale=locale).order_by("path")
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
