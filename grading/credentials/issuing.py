"""From results to certificates: checking a programme's rule and issuing once.

``rule_check`` says what a trainee has met and what is missing (for issuing and for
their progress page). When a quiz result, a graded lab or a completed lesson lands
(signals from ``courses`` and ``grading``, after commit), ``result_landed`` finds the
rules that involve it; a rule newly met queues the ``grading.certificate_issue``
task after commit, which calls ``certificate_rule_issue``: that checks again,
gathers the results and evidence, and issues through ``certificate_issue``
(idempotent). The trainee is told live when any certificate is issued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from courses.models import (
    CoursePage,
    LessonCompletion,
    LessonPage,
    ProgrammePage,
    QuizAttempt,
)
from courses.services import page_canonical
from grading.credentials.models import Certificate
from grading.credentials.rules import CertificateRule
from grading.credentials.services import certificate_issue, certificate_revoke
from grading.models import Submission
from labs.models import Lab
from lms.accounts.events import user_notify_on_commit
from lms.accounts.models import User

log = logging.getLogger(__name__)

RENEWED = "renewed"


class Kind:
    COURSE = "course"
    QUIZ = "quiz"
    LAB = "lab"


@dataclass
class Requirement:
    """One thing the rule asks for, and how far the trainee is with it.

    ``percent`` is the best score (quizzes and labs); ``done``/``total`` count
    lessons (courses). ``evidence`` is the graded notebook that counted (labs).
    """

    kind: str
    key: str
    name: str
    met: bool
    pass_mark: int | None = None
    percent: int | None = None
    done: int = 0
    total: int = 0
    url: str = ""
    evidence: dict | None = None


@dataclass
class RuleProgress:
    programme: ProgrammePage
    rule: CertificateRule
    requirements: list[Requirement] = field(default_factory=list)
    since: datetime | None = None  # only results after this count (renewal)

    @property
    def met(self) -> bool:
        # A rule that asks for nothing (the form prevents it) issues nothing.
        return bool(self.requirements) and all(item.met for item in self.requirements)

    @property
    def missing(self) -> list[Requirement]:
        return [item for item in self.requirements if not item.met]

    @property
    def percent(self) -> int:
        if not self.requirements:
            return 0
        done = sum(1 for item in self.requirements if item.met)
        return round(100 * done / len(self.requirements))

    def results(self) -> list[dict]:
        """``certificate_issue``'s results: one per required quiz and lab."""
        return [
            {
                "key": item.key,
                "name": item.name,
                "value": item.percent,
                "resultType": "Percent",
                "valueMin": 0,
                "valueMax": 100,
                "requiredValue": item.pass_mark,
                "status": "Completed",
            }
            for item in self.requirements
            if item.kind in (Kind.QUIZ, Kind.LAB) and item.percent is not None
        ]

    def evidence(self) -> list[dict]:
        return [item.evidence for item in self.requirements if item.evidence]


# --- Checking -------------------------------------------------------------------------


def rule_for(*, programme: ProgrammePage) -> CertificateRule | None:
    return CertificateRule.objects.filter(programme=page_canonical(programme)).first()


def _course_requirement(user: User, course: CoursePage) -> Requirement:
    lessons = LessonPage.objects.child_of(course).live()
    total = lessons.count()
    done = LessonCompletion.objects.filter(user=user, lesson__in=lessons).count()
    return Requirement(
        kind=Kind.COURSE,
        key=f"course-{course.slug}",
        name=course.title,
        met=total > 0 and done >= total,
        done=done,
        total=total,
        url=course.get_url() or "",
    )


def _quiz_requirements(
    user: User, lesson: LessonPage, pass_mark: int | None, since: datetime | None
) -> list[Requirement]:
    found = []
    for block in lesson.body:
        if block.block_type != "quiz":
            continue
        attempts = QuizAttempt.objects.filter(
            user=user, lesson=lesson, quiz_id=block.id
        )
        if since is not None:
            attempts = attempts.filter(submitted_at__gt=since)
        best = attempts.order_by("-percent", "submitted_at").first()
        mark = pass_mark if pass_mark is not None else block.value["pass_mark"]
        found.append(
            Requirement(
                kind=Kind.QUIZ,
                key=f"quiz-{block.id}",
                name=block.value["title"],
                met=best is not None and best.percent >= mark,
                pass_mark=mark,
                percent=best.percent if best else None,
                url=lesson.get_url() or "",
            )
        )
    return found


def _submission_percent(submission: Submission) -> Decimal:
    return submission.score * 100 / submission.max_score


def _lab_requirement(
    user: User, lab: Lab, pass_mark: int | None, since: datetime | None
) -> Requirement:
    graded = Submission.objects.filter(
        user=user,
        lab=lab,
        status=Submission.Status.GRADED,
        needs_manual_grade=False,
        max_score__gt=0,
    )
    if since is not None:
        graded = graded.filter(created_at__gt=since)
    best = max(graded, key=_submission_percent, default=None)
    mark = pass_mark if pass_mark is not None else lab.pass_mark
    percent = _submission_percent(best) if best else None
    met = percent is not None and percent >= mark
    evidence = None
    if met:
        evidence = {
            "name": f"{lab.slug}/{lab.notebook} (attempt {best.attempt})",
            "sha256": best.sha256,
            "genre": "Jupyter notebook",
        }
    return Requirement(
        kind=Kind.LAB,
        key=f"lab-{lab.slug}",
        name=lab.title,
        met=met,
        pass_mark=mark,
        percent=int(percent) if percent is not None else None,
        evidence=evidence,
    )


def rule_check(
    *, user: User, programme: ProgrammePage, since: datetime | None = None
) -> RuleProgress | None:
    """What ``user`` has met of ``programme``'s rule and what is missing; None when
    the programme has no rule. ``since``: only quiz and lab results after it count
    (lessons once completed stay completed)."""
    programme = page_canonical(programme)
    rule = rule_for(programme=programme)
    if rule is None:
        return None
    progress = RuleProgress(programme=programme, rule=rule, since=since)
    for course in rule.courses.order_by("path"):
        progress.requirements.append(_course_requirement(user, course))
    for lesson in rule.quiz_lessons.order_by("path"):
        progress.requirements.extend(
            _quiz_requirements(user, lesson.specific, rule.quiz_pass_mark, since)
        )
    for lab in rule.labs.order_by("slug"):
        progress.requirements.append(
            _lab_requirement(user, lab, rule.lab_pass_mark, since)
        )
    return progress


# --- Issuing --------------------------------------------------------------------------


def _held(*, user: User, programme: ProgrammePage) -> Certificate | None:
    return Certificate.objects.filter(
        user=user, programme=programme, revoked_at__isnull=True
    ).first()


def certificate_expired(certificate: Certificate) -> bool:
    return (
        certificate.valid_until is not None
        and certificate.valid_until <= timezone.now()
    )


def _issue_window(
    *, user: User, programme: ProgrammePage, rule: CertificateRule
) -> tuple[bool, datetime | None, Certificate | None]:
    """Whether a certificate may be issued automatically now, the moment after
    which results count, and the expired certificate it would replace.

    A valid certificate needs nothing; a revoked one is an instructor's decision
    (they re-issue it); an expired one is earned again only when the rule says so,
    and only by results recorded after it was issued.
    """
    held = _held(user=user, programme=programme)
    if held is None:
        revoked = Certificate.objects.filter(user=user, programme=programme).exists()
        return not revoked, None, None
    if not certificate_expired(held):
        return False, None, None
    if rule.renewal != CertificateRule.Renewal.EARN_AGAIN:
        return False, None, None
    return True, held.issued_at, held


def rule_due(*, user: User, programme: ProgrammePage) -> bool:
    """``user`` has met ``programme``'s (active) rule and holds no valid
    certificate for it: a certificate should be issued."""
    programme = page_canonical(programme)
    rule = rule_for(programme=programme)
    if rule is None or not rule.active:
        return False
    allowed, since, _old = _issue_window(user=user, programme=programme, rule=rule)
    if not allowed:
        return False
    progress = rule_check(user=user, programme=programme, since=since)
    return progress is not None and progress.met


def certificate_rule_issue(
    *, user: User, programme: ProgrammePage
) -> Certificate | None:
    """Issue ``user``'s certificate for ``programme`` if its rule is met; the
    certificate they hold if it is still valid; None otherwise. Safe to repeat."""
    programme = page_canonical(programme)
    rule = rule_for(programme=programme)
    if rule is None or not rule.active:
        return None
    with transaction.atomic():
        # One decision at a time per trainee: a duplicate task waits, then finds
        # the certificate issued.
        User.objects.select_for_update().filter(pk=user.pk).first()
        allowed, since, expired = _issue_window(
            user=user, programme=programme, rule=rule
        )
        if not allowed:
            held = _held(user=user, programme=programme)
            if held is not None and not certificate_expired(held):
                return held
            return None
        progress = rule_check(user=user, programme=programme, since=since)
        if progress is None or not progress.met:
            return None
        if expired is not None:
            certificate_revoke(certificate=expired, reason=RENEWED, by=None)
        valid_for = timedelta(days=rule.validity_days) if rule.validity_days else None
        return certificate_issue(
            user=user,
            programme=programme,
            results=progress.results(),
            evidence=progress.evidence(),
            valid_for=valid_for,
            replaces=expired,
        )


def _queue(user_id: int, programme_id: int) -> None:
    from grading.tasks import certificate_issue as task

    task.delay(user_id, programme_id)


def certificate_issue_queue(*, user: User, programme: ProgrammePage) -> None:
    """Queue the issuing task once the current transaction commits."""
    user_id, programme_id = user.pk, programme.pk
    transaction.on_commit(lambda: _queue(user_id, programme_id))


def rules_involving(
    *,
    lesson: LessonPage | None = None,
    course_id: int | None = None,
    lab_id: int | None = None,
) -> QuerySet[CertificateRule]:
    condition = Q()
    if lesson is not None:
        condition |= Q(quiz_lessons=lesson)
    if course_id is not None:
        condition |= Q(courses=course_id)
    if lab_id is not None:
        condition |= Q(labs=lab_id)
    return (
        CertificateRule.objects.filter(active=True)
        .filter(condition)
        .select_related("programme")
        .distinct()
    )


def result_landed(
    *, user: User, rules: QuerySet[CertificateRule] | list[CertificateRule]
) -> int:
    """Queue issuing for every rule of ``rules`` that ``user`` now meets; how many."""
    queued = 0
    for rule in rules:
        if rule_due(user=user, programme=rule.programme):
            certificate_issue_queue(user=user, programme=rule.programme)
            queued += 1
    return queued


# --- Telling the trainee --------------------------------------------------------------


def certificate_announce(*, certificate: Certificate) -> None:
    """A live notice to the holder's open pages, in their language."""
    language = getattr(certificate.user, "preferred_language", "") or "en"
    with translation.override(language):
        text = _("Your certificate for %(programme)s has been issued.") % {
            "programme": certificate.programme.title
        }
        url = reverse("grading:certificate_detail", args=[certificate.pk])
    user_notify_on_commit(
        user_id=certificate.user_id,
        data={
            "kind": "certificate",
            "id": str(certificate.pk),
            "programme": certificate.programme_slug,
            "status": "valid",
            "text": text,
            "url": url,
        },
    )
