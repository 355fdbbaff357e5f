"""Reads for the holder's and the instructor's certificate pages, the dashboard and
the API: states, progress towards a certificate, the skills transcript, lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from wagtail.models import Locale

from courses.models import Enrolment, ProgrammePage, Skill, SkillAlignment
from courses.teaching import programme_taught, programmes_taught, teaches_everything
from grading.credentials.document import programme_edition, site_url
from grading.credentials.issuing import (
    RuleProgress,
    certificate_expired,
    rule_progress_for_programmes,
)
from grading.credentials.models import Certificate
from lms.accounts.models import User

EXPIRING_DAYS = 30
LINKEDIN_ADD = "https://www.linkedin.com/profile/add"


class State:
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"


def certificate_state(certificate: Certificate) -> str:
    if certificate.is_revoked:
        return State.REVOKED
    if certificate_expired(certificate):
        return State.EXPIRED
    return State.VALID


def verification_url(certificate: Certificate) -> str:
    """The public verification page, absolute (for the QR code and links)."""
    return site_url(f"/verify/{certificate.pk}")


def programme_localized(programme: ProgrammePage) -> ProgrammePage:
    return programme_edition(programme.specific, Locale.get_active().language_code)


def programmes_localized(
    *, programmes: Sequence[ProgrammePage], locale: Locale | None = None
) -> dict[int, ProgrammePage]:
    """``programme_localized`` for many programmes in 2 queries at most: each
    programme's id mapped to its edition in ``locale`` (the active one when not
    given) if it has been translated, else to itself."""
    if not programmes:
        return {}
    locale = locale or Locale.get_active()
    editions = {
        page.translation_key: page
        for page in ProgrammePage.objects.filter(
            translation_key__in={page.translation_key for page in programmes},
            locale=locale,
        )
    }
    return {
        page.pk: editions.get(page.translation_key) or page.specific
        for page in programmes
    }


@dataclass
class HeldCertificate:
    certificate: Certificate
    state: str
    programme: ProgrammePage  # in the active language

    @property
    def pk(self):
        return self.certificate.pk


def _held(certificate: Certificate) -> HeldCertificate:
    return HeldCertificate(
        certificate=certificate,
        state=certificate_state(certificate),
        programme=programme_localized(certificate.programme),
    )


def certificates_for(*, user: User) -> QuerySet[Certificate]:
    """The holder's certificates, newest first (paginate it)."""
    return (
        Certificate.objects.filter(user=user)
        .select_related("programme")
        .order_by("-issued_at")
    )


def certificates_held(
    certificates, *, locale: Locale | None = None
) -> list[HeldCertificate]:
    """``certificates`` (with their programmes) as held, in ``locale`` (the active
    language when not given): 2 queries at most for their programmes' editions."""
    certificates = list(certificates)
    editions = programmes_localized(
        programmes=[certificate.programme for certificate in certificates],
        locale=locale,
    )
    return [
        HeldCertificate(
            certificate=certificate,
            state=certificate_state(certificate),
            programme=editions[certificate.programme_id],
        )
        for certificate in certificates
    ]


def certificate_of_holder(*, user: User, certificate_id) -> HeldCertificate | None:
    certificate = (
        Certificate.objects.filter(user=user, pk=certificate_id)
        .select_related("programme", "user")
        .first()
    )
    return _held(certificate) if certificate else None


def progress_for(*, user: User, locale: Locale | None = None) -> list[RuleProgress]:
    """Progress towards the certificates of the programmes ``user`` is enrolled in
    and does not hold a valid certificate for, each programme in ``locale`` (the
    active language when not given).

    A bounded number of queries however many programmes: the enrolments, the
    un-revoked certificates for all of them, ``rule_progress_for_programmes`` and
    the programmes' editions in the active language.
    """
    programmes = [
        enrolment.programme
        for enrolment in Enrolment.objects.filter(
            user=user, status=Enrolment.Status.ACTIVE
        ).select_related("programme")
    ]
    held = {
        certificate.programme_id: certificate
        for certificate in Certificate.objects.filter(
            user=user,
            programme__in=[programme.pk for programme in programmes],
            revoked_at__isnull=True,
        )
    }
    pending = [
        programme
        for programme in programmes
        if programme.pk not in held or certificate_expired(held[programme.pk])
    ]
    progress = rule_progress_for_programmes(user=user, programmes=pending)
    shown = [programme for programme in pending if programme.pk in progress]
    editions = programmes_localized(programmes=shown, locale=locale)
    found = []
    for programme in shown:
        item = progress[programme.pk]
        item.programme = editions[programme.pk]
        found.append(item)
    return found


@dataclass
class TranscriptSkill:
    skill: Skill  # in the active language when translated
    framework: str
    reference: str  # the framework URI, or its code
    programmes: list[ProgrammePage]
    alignments: list[SkillAlignment]  # the concepts of other frameworks it covers


def skills_transcript(*, user: User) -> list[TranscriptSkill]:
    """Every skill certified by ``user``'s valid certificates, with its framework
    code or URI and the programmes that certified it; sorted by name."""
    active = Locale.get_active()
    skills: dict[str, TranscriptSkill] = {}
    for certificate in certificates_for(user=user).filter(revoked_at__isnull=True):
        if certificate_expired(certificate):
            continue
        programme = programme_localized(certificate.programme)
        skills_of = certificate.programme.specific.skills.prefetch_related("alignments")
        for skill in skills_of:
            shown = skill.get_translation_or_none(active) or skill
            entry = skills.get(skill.key)
            if entry is None:
                entry = skills[skill.key] = TranscriptSkill(
                    skill=shown,
                    framework=skill.get_framework_display(),
                    reference=skill.reference,
                    programmes=[],
                    alignments=list(skill.alignments.all()),
                )
            entry.programmes.append(programme)
    return sorted(skills.values(), key=lambda entry: entry.skill.name.lower())


def linkedin_url(certificate: Certificate) -> str:
    """LinkedIn's add-to-profile link for a certification, filled in."""
    programme = programme_edition(certificate.programme.specific, "en")
    params = {
        "startTask": "CERTIFICATION_NAME",
        "name": programme.title,
        "organizationName": settings.CREDENTIALS_ISSUER_NAME,
        "issueYear": certificate.issued_at.year,
        "issueMonth": certificate.issued_at.month,
        "certUrl": verification_url(certificate),
        "certId": str(certificate.pk),
    }
    if certificate.valid_until:
        params["expirationYear"] = certificate.valid_until.year
        params["expirationMonth"] = certificate.valid_until.month
    return f"{LINKEDIN_ADD}?{urlencode(params)}"


# --- Instructors ----------------------------------------------------------------------


def certificates_admin(
    *,
    user: User,
    programme_id: int | None = None,
    state: str = "",
    query: str = "",
    expiring_days: int | None = None,
) -> QuerySet[Certificate]:
    """The certificates of the programmes ``user`` teaches (``courses.teaching``:
    all for staff), filtered for the instructor's list; newest first, or by
    expiry date when asking for those about to expire."""
    now = timezone.now()
    found = Certificate.objects.select_related("user", "programme", "revoked_by")
    if not teaches_everything(user):
        found = found.filter(programme__in=programmes_taught(user=user))
    if programme_id:
        found = found.filter(programme_id=programme_id)
    if state == State.REVOKED:
        found = found.filter(revoked_at__isnull=False)
    elif state == State.EXPIRED:
        found = found.filter(revoked_at__isnull=True, valid_until__lte=now)
    elif state == State.VALID:
        found = found.filter(revoked_at__isnull=True).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=now)
        )
    if query:
        found = found.filter(
            Q(user__username__icontains=query)
            | Q(user__email__icontains=query)
            | Q(user__display_name__icontains=query)
            | Q(programme_slug__icontains=query)
        )
    if expiring_days is not None:
        return found.filter(
            revoked_at__isnull=True,
            valid_until__gt=now,
            valid_until__lte=now + timedelta(days=expiring_days),
        ).order_by("valid_until")
    return found.order_by("-issued_at")


def programmes_with_certificates(*, user: User) -> QuerySet[ProgrammePage]:
    """The programmes the instructor's list may be filtered by: those they teach."""
    return programmes_taught(user=user).order_by("path")


def certificate_taught(*, user: User, certificate_id) -> Certificate | None:
    """The certificate, if ``user`` teaches its programme (staff: any)."""
    certificate = (
        Certificate.objects.filter(pk=certificate_id)
        .select_related("programme", "user")
        .first()
    )
    if certificate is None or not programme_taught(
        user=user, programme=certificate.programme
    ):
        return None
    return certificate


def dashboard_certificates(
    *, user: User, locale: Locale | None = None, limit: int = 3
) -> dict:
    """The dashboard's certificates section: the latest held, and progress, with
    programmes in ``locale`` (the active language when not given). A bounded
    number of queries however many programmes ``user`` is enrolled in."""
    locale = locale or Locale.get_active()
    return {
        "held": certificates_held(certificates_for(user=user)[:limit], locale=locale),
        "progress": progress_for(user=user, locale=locale),
    }
