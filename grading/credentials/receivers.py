"""Listening for results: a quiz attempt, a completed lesson, a graded lab, and
telling the holder when a certificate is issued. Connected in ``GradingConfig``.

Each signal is sent after commit, so the rule sees the result that triggered it.
"""

from django.dispatch import receiver

from courses.services import lesson_completed, quiz_attempt_submitted
from grading.credentials import issuing
from grading.credentials.services import certificate_issued
from grading.services import submission_graded


@receiver(quiz_attempt_submitted, dispatch_uid="certificate-rules-quiz")
def on_quiz_attempt(sender, attempt, **kwargs) -> None:
    lesson = attempt.lesson
    rules = issuing.rules_involving(lesson=lesson, course_id=lesson.get_parent().pk)
    issuing.result_landed(user=attempt.user, rules=rules)


@receiver(lesson_completed, dispatch_uid="certificate-rules-lesson")
def on_lesson_completed(sender, completion, **kwargs) -> None:
    course_id = completion.lesson.get_parent().pk
    issuing.result_landed(
        user=completion.user, rules=issuing.rules_involving(course_id=course_id)
    )


@receiver(submission_graded, dispatch_uid="certificate-rules-lab")
def on_submission_graded(sender, submission, **kwargs) -> None:
    if not submission.passed:
        return
    issuing.result_landed(
        user=submission.user, rules=issuing.rules_involving(lab_id=submission.lab_id)
    )


@receiver(certificate_issued, dispatch_uid="certificate-announce")
def on_certificate_issued(sender, certificate, **kwargs) -> None:
    issuing.certificate_announce(certificate=certificate)
