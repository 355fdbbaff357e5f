"""Demo data for certification: a default rule per programme, and the ``graduate``
demo user's two certificates (one valid, one revoked), both through the real
issuing and revoking services. Idempotent: running it again adds nothing.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from wagtail.models import Locale

from courses.models import CoursePage, LessonPage, ProgrammePage
from grading.credentials.issuing import rule_check
from grading.credentials.models import Certificate
from grading.credentials.rules import CertificateRule
from grading.credentials.services import certificate_issue, certificate_revoke
from labs.models import Lab
from lms.accounts.models import User

DEMO_VALIDITY_DAYS = 730
DEMO_REVOKED_REASON = "Issued in error: the lab was graded against an old answer key."


def _programme_labs(programme: ProgrammePage) -> list[Lab]:
    slugs = {
        block.value["lab"]
        for lesson in LessonPage.objects.descendant_of(programme).live()
        for block in lesson.body
        if block.block_type == "lab"
    }
    return list(
        Lab.objects.filter(slug__in=slugs, status=Lab.Status.PUBLISHED).order_by("slug")
    )


def rule_default_ensure(*, programme: ProgrammePage) -> CertificateRule:
    """The programme's rule; if it has none, one that asks for everything: every
    course complete, every quiz and every published lab passed at their own pass
    marks, valid two years, earned again after expiry. An existing rule is left
    as an instructor made it."""
    rule = CertificateRule.objects.filter(programme=programme).first()
    if rule is not None:
        return rule
    rule = CertificateRule.objects.create(
        programme=programme, validity_days=DEMO_VALIDITY_DAYS
    )
    rule.courses.set(CoursePage.objects.child_of(programme).live())
    rule.quiz_lessons.set(
        [
            lesson
            for lesson in LessonPage.objects.descendant_of(programme).live()
            if any(block.block_type == "quiz" for block in lesson.body)
        ]
    )
    rule.labs.set(_programme_labs(programme))
    rule.save()
    return rule


def _notebook_sha256(lab: Lab) -> str:
    path = Path(settings.LABS_SOURCE_DIR) / lab.slug / lab.notebook
    data = path.read_bytes() if path.exists() else lab.slug.encode()
    return hashlib.sha256(data).hexdigest()


def _demo_results(
    user: User, programme: ProgrammePage
) -> tuple[list[dict], list[dict]]:
    """Plausible passing scores for every quiz and lab the rule asks for, and the
    hash of each lab's notebook as evidence (no grading is run)."""
    progress = rule_check(user=user, programme=programme)
    results, evidence = [], []
    for position, item in enumerate(progress.requirements if progress else []):
        if item.kind == "course":
            continue
        mark = item.pass_mark or 70
        score = min(100, mark + 8 + (position * 3) % 12)
        results.append(
            {
                "key": item.key,
                "name": item.name,
                "value": score,
                "resultType": "Percent",
                "valueMin": 0,
                "valueMax": 100,
                "requiredValue": mark,
                "status": "Completed",
            }
        )
    for lab in progress.rule.labs.order_by("slug") if progress else []:
        evidence.append(
            {
                "name": f"{lab.slug}/{lab.notebook} (attempt 1)",
                "sha256": _notebook_sha256(lab),
                "genre": "Jupyter notebook",
            }
        )
    return results, evidence


def _validity(rule: CertificateRule) -> timedelta | None:
    return timedelta(days=rule.validity_days) if rule.validity_days else None


def graduate_certificates_ensure(*, user: User) -> list[Certificate]:
    """``user`` holds a valid certificate for the first programme and a revoked
    one for the second (or for the first, when there is only one)."""
    programmes = list(
        ProgrammePage.objects.live()
        .filter(locale=Locale.get_default())
        .order_by("path")[:2]
    )
    if not programmes:
        return []
    rules = {p.pk: rule_default_ensure(programme=p) for p in programmes}
    valid_programme, revoked_programme = programmes[0], programmes[-1]
    held = []
    revoked = Certificate.objects.filter(
        user=user, programme=revoked_programme, revoked_at__isnull=False
    ).first()
    if revoked is None:
        results, evidence = _demo_results(user, revoked_programme)
        certificate = certificate_issue(
            user=user,
            programme=revoked_programme,
            results=results,
            evidence=evidence,
            valid_for=_validity(rules[revoked_programme.pk]),
        )
        revoked = certificate_revoke(
            certificate=certificate, reason=DEMO_REVOKED_REASON, by=None
        )
    held.append(revoked)
    valid = Certificate.objects.filter(
        user=user, programme=valid_programme, revoked_at__isnull=True
    ).first()
    if valid is None:
        results, evidence = _demo_results(user, valid_programme)
        valid = certificate_issue(
            user=user,
            programme=valid_programme,
            results=results,
            evidence=evidence,
            valid_for=_validity(rules[valid_programme.pk]),
        )
    held.insert(0, valid)
    return held
