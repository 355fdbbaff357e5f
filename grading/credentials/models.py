"""Certificates and the status lists that can revoke them.

Imported by ``grading.models`` so that the grading app owns these tables. The signed
credential (``Certificate.jwt``) is what employers verify; the rows only say which
credentials exist and where their status bit lives. No key material is stored here.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StatusList(models.Model):
    """A Bitstring Status List: one bit per certificate, set when it is revoked.

    Indexes are handed out at random (herd privacy: a list's index says nothing of
    when a credential was issued); ``allocated`` counts those given out, so a full
    list can be retired and a new one opened.
    """

    class Purpose(models.TextChoices):
        REVOCATION = "revocation", _("Revocation")

    purpose = models.CharField(
        max_length=16, choices=Purpose.choices, default=Purpose.REVOCATION
    )
    size = models.PositiveIntegerField()  # bits
    bits = models.BinaryField()
    allocated = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(size__gte=131072), name="status_list_at_least_16kb"
            )
        ]

    def __str__(self) -> str:
        return f"Status list {self.pk} ({self.allocated}/{self.size})"


class Certificate(models.Model):
    """A programme certificate awarded to one trainee, as a signed credential.

    ``credential`` is the unsigned OpenBadgeCredential and ``jwt`` its compact
    VC-JWT; both are fixed at issue. Revoking sets the certificate's bit in its
    status list; re-issuing makes a new certificate that ``replaces`` this one.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates"
    )
    # PROTECT: a programme with certificates out there must not disappear.
    programme = models.ForeignKey(
        "courses.ProgrammePage", on_delete=models.PROTECT, related_name="+"
    )
    programme_slug = models.SlugField(max_length=255)
    issued_at = models.DateTimeField(_("issued at"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    status_list = models.ForeignKey(
        StatusList, on_delete=models.PROTECT, related_name="certificates"
    )
    status_index = models.PositiveIntegerField()
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason"), max_length=500, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    credential = models.JSONField()
    jwt = models.TextField()
    results = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=list, blank=True)
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
    )
    key_id = models.CharField(max_length=300)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status_list", "status_index"],
                name="certificate_status_entry",
            ),
            models.UniqueConstraint(
                fields=["user", "programme"],
                condition=Q(revoked_at__isnull=True),
                name="certificate_one_valid_per_programme",
            ),
        ]
        indexes = [models.Index(fields=["valid_until"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.programme_slug} · {self.pk}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
