"""Writes to learning records: enrolment, lesson completion, quiz attempts.

Every function takes the page in whatever locale the trainee read it and records
against the default-locale page, so progress is shared across languages.
"""

from decimal import Decimal, InvalidOperation
from typing import TypeVar

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.models import Locale, Page

from courses.models import (
    Enrolment,
    LessonCompletion,
    LessonPage,
    ProgrammePage,
    QuizAttempt,
)
from lms.accounts.models import User
from lms.accounts.readerstate import reader_state_bump

P = TypeVar("P", bound=Page)

# Upward news for higher layers (certificate rules in ``grading``), sent after commit:
# ``attempt=`` a recorded quiz attempt; ``completion=`` a newly completed lesson.
quiz_attempt_submitted = Signal()
lesson_completed = Signal()


class LearningError(Exception):
    """A request the trainee can fix; ``str()`` is a message fit to show them."""


class NotEnrolled(LearningError):
    pass


class InvalidAnswers(LearningError):
    pass


def page_canonical(page: P) -> P:
    """The default-locale translation of ``page`` (itself when already default)."""
    default = Locale.get_default()
    if page.locale_id == default.pk:
        return page
    return type(page).objects.get(translation_key=page.translation_key, locale=default)


def lesson_programme(lesson: LessonPage) -> ProgrammePage:
    return ProgrammePage.objects.ancestor_of(lesson).get()


def enrolment_active(*, user: User, programme: ProgrammePage) -> Enrolment | None:
    return Enrolment.objects.filter(
        user=user, programme=page_canonical(programme), status=Enrolment.Status.ACTIVE
    ).first()


@transaction.atomic
def enrolment_create(*, user: User, programme: ProgrammePage) -> Enrolment:
    """Enrol ``user`` in ``programme`` (idempotent; re-activates a left enrolment)."""
    programme = page_canonical(programme)
    if not programme.live:
        raise LearningError(_("This programme is not open for enrolment."))
    try:
        with transaction.atomic():
            enrolment, created = Enrolment.objects.get_or_create(
                user=user, programme=programme
            )
    except IntegrityError:  # a concurrent request enrolled first
        enrolment, created = (
            Enrolment.objects.get(user=user, programme=programme),
            False,
        )
    if not created and enrolment.status != Enrolment.Status.ACTIVE:
        enrolment.status = Enrolment.Status.ACTIVE
        enrolment.enrolled_at = timezone.now()
        enrolment.left_at = None
        enrolment.save(update_fields=["status", "enrolled_at", "left_at"])
    return enrolment


@transaction.atomic
def enrolment_leave(*, user: User, programme: ProgrammePage) -> None:
    """Leave a programme. Completed lessons and attempts are kept for a return."""
    Enrolment.objects.filter(
        user=user, programme=page_canonical(programme), status=Enrolment.Status.ACTIVE
    ).update(status=Enrolment.Status.LEFT, left_at=timezone.now())
    reader_state_bump(user_ids=[user.pk])


def _require_enrolment(user: User, lesson: LessonPage) -> LessonPage:
    lesson = page_canonical(lesson)
    if enrolment_active(user=user, programme=lesson_programme(lesson)) is None:
        raise NotEnrolled(_("Enrol in the programme to record your progress."))
    return lesson


@transaction.atomic
def lesson_complete(*, user: User, lesson: LessonPage) -> LessonCompletion:
    """Mark a lesson complete for an enrolled trainee (idempotent)."""
    lesson = _require_enrolment(user, lesson)
    completion, created = LessonCompletion.objects.get_or_create(
        user=user, lesson=lesson
    )
    if created:
        transaction.on_commit(
            lambda: lesson_completed.send(
                sender=LessonCompletion, completion=completion
            )
        )
    return completion


@transaction.atomic
def lesson_uncomplete(*, user: User, lesson: LessonPage) -> None:
    LessonCompletion.objects.filter(user=user, lesson=page_canonical(lesson)).delete()


def _grade_question(kind: str, value: dict, given: list[str]) -> bool:
    if kind == "numeric":
        if len(given) != 1 or not given[0].strip():
            return False
        raw = given[0].strip().replace(",", "").replace("，", "")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise InvalidAnswers(
                _("“%(value)s” is not a number.") % {"value": given[0]}
            ) from None
        if not number.is_finite():
            raise InvalidAnswers(_("“%(value)s” is not a number.") % {"value": raw})
        return abs(number - Decimal(value["answer"])) <= Decimal(value["tolerance"])
    choices = value["choices"]
    try:
        chosen = {int(index) for index in given}
    except ValueError:
        raise InvalidAnswers(_("That is not one of the choices.")) from None
    if any(index < 0 or index >= len(choices) for index in chosen):
        raise InvalidAnswers(_("That is not one of the choices."))
    if kind == "single" and len(chosen) > 1:
        raise InvalidAnswers(_("Choose only one answer for a single-choice question."))
    correct = {i for i, choice in enumerate(choices) if choice["correct"]}
    return chosen == correct


def quiz_block_find(*, lesson: LessonPage, quiz_id: str):
    for block in lesson.body:
        if block.block_type == "quiz" and block.id == quiz_id:
            return block
    return None


@transaction.atomic
def quiz_attempt_submit(
    *, user: User, lesson: LessonPage, quiz_id: str, answers: dict[str, list[str]]
) -> QuizAttempt:
    """Grade answers to one quiz block of ``lesson`` and record the attempt.

    ``lesson`` is the page in the language the trainee answered in (its quiz text);
    the attempt is recorded against the default-locale lesson. Unanswered questions
    count as wrong; malformed answers raise ``InvalidAnswers`` and record nothing.
    """
    block = quiz_block_find(lesson=lesson, quiz_id=quiz_id)
    if block is None:
        raise LearningError(_("This quiz no longer exists. Reload the lesson."))
    canonical = _require_enrolment(user, lesson)
    unknown = set(answers) - {question.id for question in block.value["questions"]}
    if unknown:
        raise InvalidAnswers(_("The quiz has changed since you opened it. Reload it."))
    feedback = []
    for question in block.value["questions"]:
        correct = _grade_question(
            question.block_type, question.value, answers.get(question.id, [])
        )
        feedback.append(
            {
                "question": question.id,
                "correct": correct,
                "explanation": question.value["explanation"] or "",
            }
        )
    score = sum(1 for item in feedback if item["correct"])
    max_score = len(feedback)
    percent = round(100 * score / max_score) if max_score else 0
    attempt = QuizAttempt.objects.create(
        user=user,
        lesson=canonical,
        quiz_id=quiz_id,
        quiz_title=block.value["title"],
        answers={key: list(value) for key, value in answers.items()},
        feedback=feedback,
        score=score,
        max_score=max_score,
        percent=percent,
        passed=percent >= block.value["pass_mark"],
    )
    transaction.on_commit(
        lambda: quiz_attempt_submitted.send(sender=QuizAttempt, attempt=attempt)
    )
    return attempt


@transaction.atomic
def programme_instructors_assign(
    *, programme: ProgrammePage, instructors: list[User]
) -> bool:
    """Add ``instructors`` to those who teach ``programme`` (its default-locale
    edition), as the admin's page editor would: a new revision, published, so
    that a later edit of the page keeps them. Idempotent: nothing is written when
    they all teach it already. Returns whether anything changed."""
    page = page_canonical(programme)
    current = set(page.instructors.values_list("pk", flat=True))
    missing = [user for user in instructors if user.pk not in current]
    if not missing:
        return False
    page.instructors.add(*missing)
    page.save_revision(log_action=False).publish(log_action=False)
    return True
