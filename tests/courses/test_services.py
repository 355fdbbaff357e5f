"""courses.services: enrolment, lesson completion and server-side quiz grading."""

from decimal import Decimal

import pytest
from wagtail.models import Locale

from courses import services
from courses.models import Enrolment, LessonCompletion, QuizAttempt
from tests.courses.helpers import (
    choice_questions,
    correct_answer,
    correct_answers,
    curriculum,
    curriculum_quizzes,
    numeric_questions,
    quiz_lessons,
    wrong_answer,
)


def _translation(page, locale):
    return page.get_translation(locale).specific


# --- Enrolment ------------------------------------------------------------------------


def test_enrolment_create_is_idempotent(trainee, programme):
    """Enrolling twice returns the same active enrolment and creates no second row."""
    first = services.enrolment_create(user=trainee, programme=programme)
    second = services.enrolment_create(user=trainee, programme=programme)

    assert first.pk == second.pk
    assert second.status == Enrolment.Status.ACTIVE
    assert Enrolment.objects.filter(user=trainee).count() == 1


def test_enrolment_create_reactivates_after_leave(trainee, programme):
    """Enrolling after leaving re-activates the same enrolment and clears left_at."""
    first = services.enrolment_create(user=trainee, programme=programme)
    services.enrolment_leave(user=trainee, programme=programme)
    first.refresh_from_db()
    assert first.status == Enrolment.Status.LEFT
    assert first.left_at is not None

    again = services.enrolment_create(user=trainee, programme=programme)

    assert again.pk == first.pk
    assert again.status == Enrolment.Status.ACTIVE
    assert again.left_at is None
    assert services.enrolment_active(user=trainee, programme=programme) == again


def test_enrolment_create_from_chinese_page_records_against_english(
    trainee, programme, zh_locale
):
    """Enrolling from the zh-hans programme page records the English programme."""
    chinese = _translation(programme, zh_locale)
    assert chinese.pk != programme.pk

    enrolment = services.enrolment_create(user=trainee, programme=chinese)

    assert enrolment.programme_id == programme.pk
    assert services.enrolment_active(user=trainee, programme=chinese) == enrolment
    assert services.enrolment_active(user=trainee, programme=programme) == enrolment


def test_enrolment_leave_keeps_completions_and_attempts(enrolled, programme, quiz):
    """Leaving keeps completed lessons and quiz attempts for a later return."""
    lesson, block = quiz
    services.lesson_complete(user=enrolled, lesson=lesson)
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )

    services.enrolment_leave(user=enrolled, programme=programme)

    assert services.enrolment_active(user=enrolled, programme=programme) is None
    assert LessonCompletion.objects.filter(user=enrolled, lesson=lesson).exists()
    assert QuizAttempt.objects.filter(user=enrolled, lesson=lesson).count() == 1


def test_enrolment_leave_when_not_enrolled_does_nothing(trainee, programme):
    """Leaving a programme one never joined creates no record and raises nothing."""
    services.enrolment_leave(user=trainee, programme=programme)

    assert not Enrolment.objects.filter(user=trainee).exists()


# --- Lesson completion ----------------------------------------------------------------


def test_lesson_complete_requires_an_active_enrolment(trainee, programme, lessons):
    """Completing a lesson without an active enrolment raises NotEnrolled."""
    with pytest.raises(services.NotEnrolled):
        services.lesson_complete(user=trainee, lesson=lessons[0])
    services.enrolment_create(user=trainee, programme=programme)
    services.enrolment_leave(user=trainee, programme=programme)
    with pytest.raises(services.NotEnrolled):
        services.lesson_complete(user=trainee, lesson=lessons[0])

    assert not LessonCompletion.objects.filter(user=trainee).exists()


def test_lesson_complete_is_idempotent(enrolled, lessons):
    """Completing a lesson twice keeps one completion."""
    first = services.lesson_complete(user=enrolled, lesson=lessons[0])
    second = services.lesson_complete(user=enrolled, lesson=lessons[0])

    assert first.pk == second.pk
    assert LessonCompletion.objects.filter(user=enrolled).count() == 1


def test_lesson_complete_from_chinese_page_records_english_lesson(
    enrolled, lessons, zh_locale
):
    """Completing the zh-hans lesson records the English lesson."""
    completion = services.lesson_complete(
        user=enrolled, lesson=_translation(lessons[1], zh_locale)
    )

    assert completion.lesson_id == lessons[1].pk


def test_lesson_uncomplete_removes_the_completion(enrolled, lessons, zh_locale):
    """Un-completing (from either language) deletes only that lesson's completion."""
    services.lesson_complete(user=enrolled, lesson=lessons[0])
    services.lesson_complete(user=enrolled, lesson=lessons[1])

    services.lesson_uncomplete(
        user=enrolled, lesson=_translation(lessons[0], zh_locale)
    )

    assert list(
        LessonCompletion.objects.filter(user=enrolled).values_list(
            "lesson_id", flat=True
        )
    ) == [lessons[1].pk]


# --- Quiz attempts --------------------------------------------------------------------


def test_quiz_all_correct_passes(enrolled, quiz):
    """All correct answers score full marks, pass, and every question is correct."""
    lesson, block = quiz
    attempt = services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )

    questions = block.value["questions"]
    assert attempt.score == attempt.max_score == len(questions)
    assert attempt.percent == 100
    assert attempt.passed is True
    assert attempt.lesson_id == lesson.pk
    assert attempt.quiz_id == block.id
    assert [item["question"] for item in attempt.feedback] == [q.id for q in questions]
    assert all(item["correct"] for item in attempt.feedback)


def test_quiz_wrong_answers_fail_with_feedback_per_question(enrolled, quiz):
    """Wrong answers fail; feedback marks each question and gives its explanation."""
    lesson, block = quiz
    questions = block.value["questions"]
    answers = {q.id: wrong_answer(q) for q in questions}
    answers[questions[0].id] = correct_answer(questions[0])

    attempt = services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=answers
    )

    assert attempt.score == 1
    assert attempt.passed is False
    assert attempt.percent == round(100 / len(questions))
    by_id = {item["question"]: item for item in attempt.feedback}
    assert by_id[questions[0].id]["correct"] is True
    for question in questions[1:]:
        assert by_id[question.id]["correct"] is False
        assert by_id[question.id]["explanation"] == question.value["explanation"]


def test_quiz_unanswered_questions_count_as_wrong(enrolled, quiz):
    """Questions left out of the answers are graded wrong, not rejected."""
    lesson, block = quiz
    first = block.value["questions"][0]

    attempt = services.quiz_attempt_submit(
        user=enrolled,
        lesson=lesson,
        quiz_id=block.id,
        answers={first.id: correct_answer(first)},
    )

    assert attempt.score == 1
    assert attempt.max_score == len(block.value["questions"])
    assert [item["correct"] for item in attempt.feedback].count(False) == (
        attempt.max_score - 1
    )


def test_quiz_multiple_choice_needs_every_correct_choice(enrolled, quiz):
    """A multiple-choice question is right only when exactly the correct set is sent."""
    lesson, block = quiz
    question = choice_questions(block, "multiple")[0]
    correct = correct_answer(question)
    assert len(correct) > 1, "the first multiple-choice question has one answer"

    attempt = services.quiz_attempt_submit(
        user=enrolled,
        lesson=lesson,
        quiz_id=block.id,
        answers={question.id: correct[:-1]},
    )

    assert attempt.score == 0


def _numeric_result(user, lesson, block, question, given: str) -> bool:
    attempt = services.quiz_attempt_submit(
        user=user, lesson=lesson, quiz_id=block.id, answers={question.id: [given]}
    )
    return next(i for i in attempt.feedback if i["question"] == question.id)["correct"]


def test_quiz_numeric_within_tolerance_is_correct(enrolled, quiz):
    """A numeric answer off by no more than the tolerance is correct."""
    lesson, block = quiz
    question = numeric_questions(block)[0]
    answer = Decimal(question.value["answer"])
    tolerance = Decimal(question.value["tolerance"])
    assert tolerance > 0

    assert _numeric_result(enrolled, lesson, block, question, str(answer + tolerance))
    assert _numeric_result(enrolled, lesson, block, question, str(answer - tolerance))


def test_quiz_numeric_outside_tolerance_is_wrong(enrolled, quiz):
    """A numeric answer just beyond the tolerance is wrong."""
    lesson, block = quiz
    question = numeric_questions(block)[0]
    answer = Decimal(question.value["answer"])
    beyond = Decimal(question.value["tolerance"]) + Decimal("0.01")

    assert not _numeric_result(enrolled, lesson, block, question, str(answer + beyond))
    assert not _numeric_result(enrolled, lesson, block, question, str(answer - beyond))


def test_quiz_numeric_accepts_thousands_separators(enrolled, quiz):
    """A numeric answer written with thousands separators ("11,815") is understood."""
    lesson, block = quiz
    question = next(
        q for q in numeric_questions(block) if Decimal(q.value["answer"]) >= 1000
    )
    formatted = f"{Decimal(question.value['answer']).normalize():,f}"
    assert "," in formatted

    assert _numeric_result(enrolled, lesson, block, question, formatted)
    assert _numeric_result(enrolled, lesson, block, question, f" {formatted} ")


@pytest.mark.parametrize("given", ["about 12k", "12..5", "NaN", "Infinity", "1e"])
def test_quiz_non_numeric_input_is_rejected_and_nothing_recorded(enrolled, quiz, given):
    """Input that is not a finite number raises InvalidAnswers and records nothing."""
    lesson, block = quiz
    question = numeric_questions(block)[0]

    with pytest.raises(services.InvalidAnswers):
        services.quiz_attempt_submit(
            user=enrolled,
            lesson=lesson,
            quiz_id=block.id,
            answers={**correct_answers(block), question.id: [given]},
        )

    assert not QuizAttempt.objects.filter(user=enrolled).exists()


@pytest.mark.parametrize("index", ["-1", "99", "first"])
def test_quiz_choice_outside_the_choices_is_rejected(enrolled, quiz, index):
    """A choice index that is not one of the question's choices raises."""
    lesson, block = quiz
    question = choice_questions(block, "single")[0]
    if index == "99":
        index = str(len(question.value["choices"]))

    with pytest.raises(services.InvalidAnswers):
        services.quiz_attempt_submit(
            user=enrolled,
            lesson=lesson,
            quiz_id=block.id,
            answers={question.id: [index]},
        )
    assert not QuizAttempt.objects.filter(user=enrolled).exists()


def test_quiz_two_choices_on_a_single_choice_question_is_rejected(enrolled, quiz):
    """Sending two choices for a single-choice question raises InvalidAnswers."""
    lesson, block = quiz
    question = choice_questions(block, "single")[0]

    with pytest.raises(services.InvalidAnswers):
        services.quiz_attempt_submit(
            user=enrolled,
            lesson=lesson,
            quiz_id=block.id,
            answers={question.id: ["0", "1"]},
        )
    assert not QuizAttempt.objects.filter(user=enrolled).exists()


def test_quiz_unknown_question_id_is_rejected(enrolled, quiz):
    """An answer to a question the quiz does not have raises InvalidAnswers."""
    lesson, block = quiz

    with pytest.raises(services.InvalidAnswers):
        services.quiz_attempt_submit(
            user=enrolled,
            lesson=lesson,
            quiz_id=block.id,
            answers={**correct_answers(block), "no-such-question": ["0"]},
        )
    assert not QuizAttempt.objects.filter(user=enrolled).exists()


def test_quiz_unknown_quiz_id_is_rejected(enrolled, quiz):
    """Submitting to a quiz id the lesson does not have raises LearningError."""
    lesson, _block = quiz

    with pytest.raises(services.LearningError):
        services.quiz_attempt_submit(
            user=enrolled, lesson=lesson, quiz_id="no-such-quiz", answers={}
        )
    assert not QuizAttempt.objects.filter(user=enrolled).exists()


def test_quiz_on_chinese_page_records_against_english_lesson(enrolled, quiz, zh_locale):
    """An attempt on the zh-hans lesson is graded there and recorded on the English
    lesson under the same quiz id, with the Chinese quiz title."""
    lesson, block = quiz
    chinese = _translation(lesson, zh_locale)
    chinese_block = next(b for b in chinese.body if b.id == block.id)

    attempt = services.quiz_attempt_submit(
        user=enrolled,
        lesson=chinese,
        quiz_id=block.id,
        answers=correct_answers(chinese_block),
    )

    assert attempt.lesson_id == lesson.pk
    assert attempt.quiz_id == block.id
    assert attempt.quiz_title == chinese_block.value["title"]
    assert attempt.quiz_title != block.value["title"]
    assert attempt.passed is True


def test_quiz_requires_an_active_enrolment(trainee, quiz):
    """A trainee who is not enrolled cannot submit a quiz: NotEnrolled."""
    lesson, block = quiz

    with pytest.raises(services.NotEnrolled):
        services.quiz_attempt_submit(
            user=trainee,
            lesson=lesson,
            quiz_id=block.id,
            answers=correct_answers(block),
        )
    assert not QuizAttempt.objects.filter(user=trainee).exists()


def test_quiz_every_imported_quiz_can_be_passed(enrolled_everywhere):
    """The computed answer key passes every quiz of every programme, in both
    languages; there are as many quizzes as the YAML has."""
    quizzes = sum(len(curriculum_quizzes(p)) for p in curriculum().values())
    for locale in Locale.objects.all():
        found = quiz_lessons(locale)
        assert len(found) == quizzes
        for lesson, block in found:
            attempt = services.quiz_attempt_submit(
                user=enrolled_everywhere,
                lesson=lesson,
                quiz_id=block.id,
                answers=correct_answers(block),
            )
            assert attempt.percent == 100, (locale, lesson.slug)
