"""Issuing, revoking and re-issuing certificates: every write goes through here.

``certificate_issue`` is idempotent (a trainee holds at most one un-revoked
certificate per programme) and announces a new certificate with the
``certificate_issued`` signal after commit. Revoking sets the certificate's bit in
its status list and drops the published list, so verifiers see it at once.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from wagtail.models import Locale

from courses.models import ProgrammePage
from grading.credentials import keys, status
from grading.credentials.document import credential_build
from grading.credentials.jose import credential_sign
from grading.credentials.models import Certificate, StatusList
from lms.accounts.models import User

log = logging.getLogger(__name__)

# Sent after commit with ``certificate`` when a certificate has been issued.
certificate_issued = Signal()

REISSUED = "reissued"
_random = random.SystemRandom()


# --- Status lists -------------------------------------------------------------------


def status_list_current() -> StatusList:
    """The list new certificates take their index from; a new one when it is
    nine-tenths full (random allocation needs free room to stay cheap)."""
    size = max(settings.CREDENTIALS_STATUS_LIST_BITS, status.MIN_BITS)
    current = StatusList.objects.filter(purpose=StatusList.Purpose.REVOCATION).first()
    if current is None or current.allocated >= current.size * 9 // 10:
        current = StatusList.objects.create(
            purpose=StatusList.Purpose.REVOCATION, size=size, bits=status.bits_new(size)
        )
    return current


def _status_index_allocate() -> tuple[StatusList, int]:
    """A random unused index of the current list (call inside a transaction)."""
    status_list = StatusList.objects.select_for_update().get(
        pk=status_list_current().pk
    )
    used = Certificate.objects.filter(status_list=status_list)
    while True:
        index = _random.randrange(status_list.size)
        if not used.filter(status_index=index).exists():
            break
    status_list.allocated += 1
    status_list.save(update_fields=["allocated"])
    return status_list, index


# --- Certificates ---------------------------------------------------------------------


def _programme_canonical(programme: ProgrammePage) -> ProgrammePage:
    """The default-language page of ``programme``: one certificate whichever
    language edition triggered it."""
    default = programme.get_translation_or_none(Locale.get_default())
    return default.specific if default else programme


def _active(*, user: User, programme: ProgrammePage) -> Certificate | None:
    return Certificate.objects.filter(
        user=user, programme=programme, revoked_at__isnull=True
    ).first()


def _sign(certificate: Certificate) -> None:
    signer = keys.signing_key()
    certificate.credential = credential_build(certificate=certificate)
    certificate.jwt = credential_sign(
        certificate.credential,
        key=signer.key,
        kid=signer.kid,
        issued_at=int(certificate.issued_at.timestamp()),
    )
    certificate.key_id = signer.kid


def certificate_issue(
    *,
    user: User,
    programme: ProgrammePage,
    results: list[dict],
    evidence: list[dict],
    valid_for: timedelta | None,
    replaces: Certificate | None = None,
) -> Certificate:
    """Issue ``user``'s certificate for ``programme``, signed now; or return the
    un-revoked one they already hold.

    ``results``: ``{"name", "value", "key"?, "resultType"? ("Percent"),
    "valueMin"?, "valueMax"?, "requiredValue"?, "status"?}`` each;
    ``evidence``: ``{"name", "sha256", "genre"?}`` per graded notebook.
    ``valid_for`` None: no expiry.
    """
    programme = _programme_canonical(programme)
    try:
        with transaction.atomic():
            existing = _active(user=user, programme=programme)
            if existing is not None:
                return existing
            status_list, index = _status_index_allocate()
            now = timezone.now().replace(microsecond=0)
            certificate = Certificate(
                user=user,
                programme=programme,
                programme_slug=programme.slug,
                issued_at=now,
                valid_from=now,
                valid_until=now + valid_for if valid_for else None,
                status_list=status_list,
                status_index=index,
                results=list(results),
                evidence=list(evidence),
                replaces=replaces,
            )
            _sign(certificate)
            certificate.save(force_insert=True)
            transaction.on_commit(
                lambda: certificate_issued.send(
                    sender=Certificate, certificate=certificate
                )
            )
    except IntegrityError:
        # Issued by another process between our check and our insert.
        existing = _active(user=user, programme=programme)
        if existing is None:
            raise
        return existing
    log.info("certificate %s issued to user %s", certificate.pk, user.pk)
    return certificate


def certificate_revoke(
    *, certificate: Certificate, reason: str, by: User | None
) -> Certificate:
    """Revoke ``certificate``: its status bit is set and published at once.
    Revoking a revoked certificate changes nothing."""
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if certificate.revoked_at is not None:
            return certificate
        status_list = StatusList.objects.select_for_update().get(
            pk=certificate.status_list_id
        )
        status_list.bits = status.bit_set(
            bytes(status_list.bits), certificate.status_index
        )
        status_list.save(update_fields=["bits"])
        certificate.revoked_at = timezone.now()
        certificate.revoked_reason = reason[:500]
        certificate.revoked_by = by
        certificate.save(update_fields=["revoked_at", "revoked_reason", "revoked_by"])
        list_id = status_list.pk
        transaction.on_commit(lambda: status.status_list_forget(list_id))
    status.status_list_forget(list_id)
    log.info("certificate %s revoked", certificate.pk)
    return certificate


def certificate_reissue(*, certificate: Certificate, by: User | None) -> Certificate:
    """A new certificate, signed now with the current key, that replaces
    ``certificate``; the old one is revoked with the reason "reissued". The
    validity period keeps its length."""
    with transaction.atomic():
        old = certificate_revoke(certificate=certificate, reason=REISSUED, by=by)
        valid_for = old.valid_until - old.valid_from if old.valid_until else None
        return certificate_issue(
            user=old.user,
            programme=old.programme,
            results=old.results,
            evidence=old.evidence,
            valid_for=valid_for,
            replaces=old,
        )
