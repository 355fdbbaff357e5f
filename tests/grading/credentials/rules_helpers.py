"""Earning a certificate for real: enrol, complete lessons, pass quizzes with the
right answers, get a lab graded (by hand, through the grading service)."""

import hashlib
from decimal import Decimal

from courses import services as learning
from courses.models import CoursePage, LessonPage
from grading import services as grading
from grading.credentials.rules import CertificateRule
from grading.models import CellGrade, Submission


def quiz_lesson(programme) -> LessonPage:
    """The first lesson of ``programme`` that holds a quiz."""
    for lesson in LessonPage.objects.descendant_of(programme).live().order_by("path"):
        if any(block.block_type == "quiz" for block in lesson.body):
            return lesson
    raise AssertionError("the programme has no quiz")


def first_course(programme) -> CoursePage:
    return CoursePage.objects.child_of(programme).live().order_by("path").first()


def answers(block, *, right: bool = True) -> dict[str, list[str]]:
    given = {}
    for question in block.value["questions"]:
        if question.block_type == "numeric":
            value = Decimal(question.value["answer"]) + (0 if right else 1000)
            given[question.id] = [str(value)]
        else:
            choices = question.value["choices"]
            chosen = [str(i) for i, c in enumerate(choices) if c["correct"] == right]
            given[question.id] = chosen[:1] if not right else chosen
    return given


def quizzes_pass(user, lesson, *, right: bool = True) -> list:
    learning.enrolment_create(user=user, programme=learning.lesson_programme(lesson))
    return [
        learning.quiz_attempt_submit(
            user=user,
            lesson=lesson,
            quiz_id=block.id,
            answers=answers(block, right=right),
        )
        for block in lesson.body
        if block.block_type == "quiz"
    ]


def course_complete(user, course) -> None:
    learning.enrolment_create(user=user, programme=course.get_parent().specific)
    for lesson in LessonPage.objects.child_of(course).live():
        learning.lesson_complete(user=user, lesson=lesson)


def lab_graded(user, lab, *, points: str, grader) -> Submission:
    """A submission whose one manual cell an instructor grades: the real path by
    which a grade lands (``submission_graded`` after commit)."""
    attempt = Submission.objects.filter(user=user, lab=lab).count() + 1
    submission = Submission.objects.create(
        user=user,
        lab=lab,
        attempt=attempt,
        notebook=f"submissions/{lab.slug}-{user.pk}-{attempt}.ipynb",
        sha256=hashlib.sha256(f"{user.pk}-{attempt}".encode()).hexdigest(),
        size=1,
        source=Submission.Source.UPLOAD,
        lab_version=lab.version,
        status=Submission.Status.GRADED,
    )
    CellGrade.objects.create(
        submission=submission,
        grade_id="answer",
        kind=CellGrade.Kind.MANUAL,
        points=None,
        max_points=Decimal("10"),
    )
    return grading.submission_grade_manual(
        submission=submission,
        grade_id="answer",
        points=Decimal(points),
        comment="",
        grader=grader,
    )


def rule_make(programme, *, courses=(), lessons=(), labs=(), **fields):
    rule = CertificateRule.objects.create(programme=programme, **fields)
    rule.courses.set(courses)
    rule.quiz_lessons.set(lessons)
    rule.labs.set(labs)
    rule.save()  # parental many-to-many relations are written on save
    return rule
