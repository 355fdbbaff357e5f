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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
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
from courses.selectors import canonical_map
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


def _rules_with_requirements() -> QuerySet[CertificateRule]:
    """Rules with their programme and chosen pages, in the order progress lists
    them (courses and lessons by tree position, labs by slug): 4 queries."""
    return CertificateRule.objects.select_related("programme").prefetch_related(
        Prefetch("courses", queryset=CoursePage.objects.order_by("path")),
        Prefetch("quiz_lessons", queryset=LessonPage.objects.order_by("path")),
        Prefetch("labs", queryset=Lab.objects.order_by("slug")),
    )


@dataclass
class _Results:
    """One trainee's results that rules are checked against, fetched once for any
    number of rules: live lessons per course, completed lessons, quiz attempts
    (best first) and graded lab submissions (newest first)."""

    course_lessons: dict[str, list[int]] = field(default_factory=dict)  # by path
    completed: set[int] = field(default_factory=set)
    attempts: dict[tuple[int, str], list[QuizAttempt]] = field(default_factory=dict)
    submissions: dict[int, list[Submission]] = field(default_factory=dict)


def _results_for(*, user: User, rules: list[CertificateRule]) -> _Results:
    """``user``'s results for every page and lab ``rules`` ask for: 4 queries at
    most, however many rules."""
    results = _Results()
    courses = {course.pk: course for rule in rules for course in rule.courses.all()}
    lesson_ids = {lesson.pk for rule in rules for lesson in rule.quiz_lessons.all()}
    lab_ids = {lab.pk for rule in rules for lab in rule.labs.all()}
    if courses:
        results.course_lessons = {course.path: [] for course in courses.values()}
        children = reduce(
            or_, (LessonPage.objects.child_of_q(c) for c in courses.values())
        )
        for pk, path in (
            LessonPage.objects.live().filter(children).values_list("pk", "path")
        ):
            results.course_lessons[path[: -LessonPage.steplen]].append(pk)
        every_lesson = [pk for pks in results.course_lessons.values() for pk in pks]
        results.completed = set(
            LessonCompletion.objects.filter(
                user=user, lesson_id__in=every_lesson
            ).values_list("lesson_id", flat=True)
        )
    if lesson_ids:
        attempts = (
            QuizAttempt.objects.filter(user=user, lesson_id__in=lesson_ids)
            .only("lesson", "quiz_id", "percent", "submitted_at")
            .order_by("-percent", "submitted_at")
        )
        for attempt in attempts:
            key = (attempt.lesson_id, attempt.quiz_id)
            results.attempts.setdefault(key, []).append(attempt)
    if lab_ids:
        graded = Submission.objects.filter(
            user=user,
            lab_id__in=lab_ids,
            status=Submission.Status.GRADED,
            needs_manual_grade=False,
            max_score__gt=0,
        )
        for submission in graded:
            results.submissions.setdefault(submission.lab_id, []).append(submission)
    return results


def _course_requirement(results: _Results, course: CoursePage) -> Requirement:
    lessons = results.course_lessons.get(course.path, [])
    total = len(lessons)
    done = sum(1 for pk in lessons if pk in results.completed)
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
    results: _Results,
    lesson: LessonPage,
    pass_mark: int | None,
    since: datetime | None,
) -> list[Requirement]:
    found = []
    for block in lesson.body:
        if block.block_type != "quiz":
            continue
        attempts = results.attempts.get((lesson.pk, block.id), [])
        best = next(
            (a for a in attempts if since is None or a.submitted_at > since), None
        )
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
    results: _Results, lab: Lab, pass_mark: int | None, since: datetime | None
) -> Requirement:
    graded = [
        submission
        for submission in results.submissions.get(lab.pk, [])
        if since is None or submission.created_at > since
    ]
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


def _rule_progress(
    rule: CertificateRule, results: _Results, since: datetime | None
) -> RuleProgress:
    """``rule`` (prefetched by ``_rules_with_requirements``) checked against
    ``results``, with no queries."""
    progress = RuleProgress(programme=rule.programme, rule=rule, since=since)
    for course in rule.courses.all():
        progress.requirements.append(_course_requirement(results, course))
    for lesson in rule.quiz_lessons.all():
        progress.requirements.extend(
            _quiz_requirements(results, lesson.specific, rule.quiz_pass_mark, since)
        )
    for lab in rule.labs.all():
        progress.requirements.append(
            _lab_requirement(results, lab, rule.lab_pass_mark, since)
        )
    return progress


def rule_check(
    *, user: User, programme: ProgrammePage, since: datetime | None = None
) -> RuleProgress | None:
    """What ``user`` has met of ``programme``'s rule and what is missing; None when
    the programme has no rule. ``since``: only quiz and lab results after it count
    (lessons once completed stay completed)."""
    programme = page_canonical(programme)
    rule = _rules_with_requirements().filter(programme=programme).first()
    if rule is None:
        return None
    rule.programme = programme
    return _rule_progress(rule, _results_for(user=user, rules=[rule]), since)


def rule_progress_for_programmes(
    *, user: User, programmes: Sequence[ProgrammePage]
) -> dict[int, RuleProgress]:
    """``rule_check`` for many programmes at once (the dashboard's and the
    certificates page's progress): ``user``'s progress keyed by the id of each
    given programme that has a rule; programmes without one are left out.

    A bounded number of queries however many programmes: the default locale, the
    default-language editions of programmes given in another language, the rules
    with their chosen pages, and ``user``'s results shared by every rule.
    """
    if not programmes:
        return {}
    canonical = canonical_map(programmes)
    rules = {
        rule.programme_id: rule
        for rule in _rules_with_requirements().filter(
            programme_id__in={page.pk for page in canonical.values()}
        )
    }
    if not rules:
        return {}
    results = _results_for(user=user, rules=list(rules.values()))
    found = {}
    for programme in programmes:
        page = canonical.get(programme.pk)
        rule = rules.get(page.pk) if page is not None else None
        if rule is not None:
            found[programme.pk] = _rule_progress(rule, results, since=None)
    return found


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
