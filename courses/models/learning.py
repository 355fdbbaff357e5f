"""Learning records: enrolments, completed lessons and quiz attempts.

They reference the default-locale pages (see ``courses.models.pages``).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Enrolment(models.Model):
    """A trainee's place in a programme (and so in all its courses)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        LEFT = "left", _("Left")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments"
    )
    programme = models.ForeignKey(
        "courses.ProgrammePage", on_delete=models.CASCADE, related_name="enrolments"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    enrolled_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "programme"], name="enrolment_user_programme"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "left"]),
                name="enrolment_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["programme", "status"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.programme_id} ({self.status})"


class LessonCompletion(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="lesson_completions",
    )
    lesson = models.ForeignKey(
        "courses.LessonPage", on_delete=models.CASCADE, related_name="completions"
    )
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson"], name="completion_user_lesson"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} completed {self.lesson_id}"


class QuizAttempt(models.Model):
    """One submitted attempt at a quiz block, graded on the server.

    ``feedback`` holds, per question id, whether it was right and the explanation;
    ``answers`` what the trainee sent, as received after validation.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    lesson = models.ForeignKey(
        "courses.LessonPage", on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    quiz_id = models.CharField(max_length=64)
    quiz_title = models.CharField(max_length=255)
    answers = models.JSONField(default=dict)
    feedback = models.JSONField(default=list)
    score = models.PositiveSmallIntegerField()
    max_score = models.PositiveSmallIntegerField()
    percent = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["user", "-submitted_at"]),
            models.Index(fields=["lesson", "quiz_id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__lte=models.F("max_score")),
                name="quiz_attempt_score_within_max",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.quiz_title} {self.score}/{self.max_score}"
