"""Users and their roles: the bottom layer every other app builds on."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    TRAINEE = "trainee", _("Trainee")
    INSTRUCTOR = "instructor", _("Instructor")
    EMPLOYER = "employer", _("Employer")


class User(AbstractUser):
    """A person on the platform: a trainee by default; staff status is not a role."""

    role = models.CharField(
        _("role"), max_length=16, choices=Role.choices, default=Role.TRAINEE
    )
    display_name = models.CharField(_("display name"), max_length=120, blank=True)
    preferred_language = models.CharField(
        _("preferred language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )

    class Meta(AbstractUser.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_valid"
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_trainee(self) -> bool:
        return self.role == Role.TRAINEE

    @property
    def is_instructor(self) -> bool:
        return self.role == Role.INSTRUCTOR or self.is_superuser

    @property
    def is_employer(self) -> bool:
        return self.role == Role.EMPLOYER


class BearerToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bearer_tokens"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token for {self.user} (expires {self.expires_at:%Y-%m-%d})"

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def new_raw() -> str:
        return secrets.token_urlsafe(32)
