"""Labs (nbgrader assignments handed out in JupyterLab) and trainees' lab sessions."""

from django.conf import settings
from django.core.validators import FileExtensionValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Lab(models.Model):
    """A hands-on notebook lab. Its source lives in ``labs/notebooks/<slug>/``.

    Publishing runs nbgrader's generate_assignment and a self-check
    (``labs.services.lab_publish``); only a lab that passes is ``published``.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed self-check")

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    title = models.CharField(_("title (English)"), max_length=200)
    title_zh = models.CharField(_("title (Chinese)"), max_length=200, blank=True)
    description = models.TextField(_("description (English)"), blank=True)
    description_zh = models.TextField(_("description (Chinese)"), blank=True)
    notebook = models.CharField(
        _("notebook file"), max_length=200, help_text=_("The nbgrader source notebook.")
    )
    data_files = models.JSONField(_("data files"), default=list, blank=True)
    source_archive = models.FileField(
        _("source archive (.zip)"),
        upload_to="lab-sources/",
        blank=True,
        validators=[FileExtensionValidator(["zip"])],
        help_text=_(
            "Optional: a .zip of the lab folder (the notebook and its data files). "
            "Without it, the lab is read from labs/notebooks/<slug>/."
        ),
    )
    points = models.DecimalField(_("points"), max_digits=6, decimal_places=2)
    pass_mark = models.PositiveSmallIntegerField(_("pass mark (%)"), default=70)
    time_limit_minutes = models.PositiveSmallIntegerField(_("time limit"), default=60)
    max_attempts = models.PositiveSmallIntegerField(_("maximum attempts"), default=3)
    closes_at = models.DateTimeField(
        _("submissions close at"),
        null=True,
        blank=True,
        help_text=_("The deadline: no submission is accepted after it. Empty: none."),
    )
    version = models.PositiveIntegerField(_("release version"), default=1)
    source_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    check_log = models.TextField(_("self-check report"), blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pass_mark__lte=100), name="lab_pass_mark_percent"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def localized_title(self) -> str:
        return (
            self.title_zh
            if get_language() == "zh-hans" and self.title_zh
            else self.title
        )

    @property
    def localized_description(self) -> str:
        if get_language() == "zh-hans" and self.description_zh:
            return self.description_zh
        return self.description


class LabSession(models.Model):
    """A trainee's copy of a lab in their JupyterLab server."""

    class State(models.TextChoices):
        NOT_STARTED = "not_started", _("Not started")
        STARTING = "starting", _("Starting")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")
        FAILED = "failed", _("Failed to start")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_sessions"
    )
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="sessions")
    state = models.CharField(
        max_length=12, choices=State.choices, default=State.NOT_STARTED
    )
    placed_version = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lab"], name="lab_session_user_lab")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.lab} ({self.state})"
