"""Reads for pages and dashboards, in a fixed number of queries however much data.

Structure (courses, lessons) is read from the default-locale tree, where learning
records point; titles and URLs come from the reader's locale in one extra query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q
from django.http import HttpRequest
from wagtail.models import Locale, Page

from courses.cache import content_cached
from courses.models import (
    CoursePage,
    Enrolment,
    LessonCompletion,
    LessonPage,
    ProgrammePage,
    QuizAttempt,
    Skill,
)
from labs.models import Lab
from lms.accounts.models import User


@dataclass
class LessonItem:
    canonical_id: int
    page: Page  # in the reader's locale when translated, else the canonical page
    done: bool = False


@dataclass
class CourseProgress:
    canonical_id: int
    page: Page
    lessons: list[LessonItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.lessons)

    @property
    def done(self) -> int:
        return sum(1 for lesson in self.lessons if lesson.done)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclass
class ProgrammeProgress:
    canonical_id: int
    page: Page
    courses: list[CourseProgress] = field(default_factory=list)

    @property
    def lessons(self) -> list[LessonItem]:
        return [lesson for course in self.courses for lesson in course.lessons]

    @property
    def total(self) -> int:
        return len(self.lessons)

    @property
    def done(self) -> int:
        return sum(1 for lesson in self.lessons if lesson.done)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def next_lesson(self) -> LessonItem | None:
        return next((lesson for lesson in self.lessons if not lesson.done), None)


def _descendants(pages: Iterable[Page]) -> Q:
    pages = list(pages)
    if not pages:
        return Q(pk__in=[])
    return reduce(
        or_, (Q(path__startswith=page.path, depth__gt=page.depth) for page in pages)
    )


def canonical_map(pages: Sequence[Page]) -> dict[int, Page]:
    """Map each page's id to its default-locale translation (one query at most)."""
    default = Locale.get_default()
    result = {page.pk: page for page in pages if page.locale_id == default.pk}
    others = [page for page in pages if page.locale_id != default.pk]
    if others:
        by_key = {
            page.translation_key: page
            for page in Page.objects.filter(
                translation_key__in=[page.translation_key for page in others],
                locale=default,
            )
        }
        for page in others:
            if page.translation_key in by_key:
                result[page.pk] = by_key[page.translation_key]
    return result


def localized_map(
    pages: Sequence[Page], locale: Locale, *, model: type[Page] = Page
) -> dict[int, Page]:
    """Map canonical page ids to their live translation in ``locale`` (one query).

    Translations are instances of ``model``: pass the specific class when the
    caller reads its own fields, so that no page needs ``.specific`` later.
    """
    result = {page.pk: page for page in pages}
    if pages and locale.pk != pages[0].locale_id:
        translations = {
            page.translation_key: page
            for page in model.objects.live().filter(
                translation_key__in=[page.translation_key for page in pages],
                locale=locale,
            )
        }
        for page in pages:
            result[page.pk] = translations.get(page.translation_key, page)
    return result


def programmes_progress(
    *, user: User | None, programmes: Sequence[ProgrammePage], locale: Locale
) -> dict[int, ProgrammeProgress]:
    """Courses, lessons and completion for canonical ``programmes``: 4 queries,
    5 in a locale other than the programmes' own."""
    if not programmes:
        return {}
    courses = list(
        CoursePage.objects.live().filter(_descendants(programmes)).order_by("path")
    )
    lessons = list(
        LessonPage.objects.live()
        .filter(_descendants(programmes))
        .only(
            "id",
            "path",
            "depth",
            "title",
            "slug",
            "url_path",
            "live",
            "translation_key",
            "locale_id",
        )
        .order_by("path")
    )
    localized = localized_map([*programmes, *lessons], locale)
    # Course summaries are shown on programme pages: read them with the course.
    localized.update(localized_map(courses, locale, model=CoursePage))
    done = lessons_done(user=user, lesson_ids=[lesson.pk for lesson in lessons])
    result = {
        programme.pk: ProgrammeProgress(programme.pk, localized[programme.pk])
        for programme in programmes
    }
    by_path = {}
    for course in courses:
        programme = next(p for p in programmes if course.path.startswith(p.path))
        progress = CourseProgress(course.pk, localized[course.pk])
        result[programme.pk].courses.append(progress)
        by_path[course.path] = progress
    for lesson in lessons:
        course = by_path.get(lesson.path[: -Page.steplen])
        if course is not None:
            course.lessons.append(
                LessonItem(lesson.pk, localized[lesson.pk], lesson.pk in done)
            )
    return result


def lessons_done(*, user: User | None, lesson_ids: Sequence[int]) -> set[int]:
    """Which of the (canonical) lessons ``user`` has completed: one query."""
    if user is None or not user.is_authenticated or not lesson_ids:
        return set()
    return set(
        LessonCompletion.objects.filter(
            user=user, lesson_id__in=list(lesson_ids)
        ).values_list("lesson_id", flat=True)
    )


def active_programme_ids(*, user: User, programme_ids: Iterable[int]) -> set[int]:
    if not user.is_authenticated:
        return set()
    return set(
        Enrolment.objects.filter(
            user=user,
            programme_id__in=list(programme_ids),
            status=Enrolment.Status.ACTIVE,
        ).values_list("programme_id", flat=True)
    )


# --- Page contexts -------------------------------------------------------------------


def catalogue_context(*, page: Page, user: User, request: HttpRequest) -> dict:
    programmes = list(ProgrammePage.objects.live().child_of(page).order_by("path"))
    canonical = canonical_map(programmes)
    enrolled = active_programme_ids(
        user=user, programme_ids=[c.pk for c in canonical.values()]
    )
    return {
        "programmes": [
            {
                "page": programme,
                "enrolled": canonical[programme.pk].pk in enrolled
                if programme.pk in canonical
                else False,
            }
            for programme in programmes
        ]
    }


def programme_context(*, page: ProgrammePage, user: User, request: HttpRequest) -> dict:
    canonical = canonical_map([page])[page.pk]
    enrolled = bool(active_programme_ids(user=user, programme_ids=[canonical.pk]))
    progress = programmes_progress(
        user=user, programmes=[canonical], locale=page.locale
    )[canonical.pk]
    return {
        "enrolled": enrolled,
        "progress": progress,
        "skills": skills_for(page),
        "canonical": canonical,
    }


def course_context(*, page: CoursePage, user: User, request: HttpRequest) -> dict:
    canonical = canonical_map([page])[page.pk]
    programme = ProgrammePage.objects.ancestor_of(canonical).get()
    enrolled = bool(active_programme_ids(user=user, programme_ids=[programme.pk]))
    progress = programmes_progress(
        user=user, programmes=[programme], locale=page.locale
    )[programme.pk]
    course = next(c for c in progress.courses if c.canonical_id == canonical.pk)
    return {
        "enrolled": enrolled,
        "programme": progress.page,
        "programme_canonical": programme,
        "course_progress": course,
        "skills": skills_for(page),
    }


@dataclass
class LessonOutline:
    """What every reader of a lesson sees alike: its programme's structure in the
    lesson's language (nothing marked done) and the published labs it opens."""

    canonical_id: int
    programme: ProgrammePage  # canonical
    progress: ProgrammeProgress
    published_labs: dict[str, Lab]


def lesson_outline(*, page: LessonPage) -> LessonOutline:
    """The lesson's outline, read once per content generation (courses.cache)."""
    return content_cached(f"lesson-outline:{page.pk}", lambda: _lesson_outline(page))


def _lesson_outline(page: LessonPage) -> LessonOutline:
    canonical = canonical_map([page])[page.pk]
    programme = ProgrammePage.objects.ancestor_of(canonical).get()
    progress = programmes_progress(
        user=None, programmes=[programme], locale=page.locale
    )[programme.pk]
    slugs = [
        block["value"]["lab"]
        for block in page.body.raw_data
        if block["type"] == "lab" and block["value"].get("lab")
    ]
    labs = Lab.objects.filter(slug__in=slugs, status=Lab.Status.PUBLISHED)
    return LessonOutline(
        canonical.pk, programme, progress, {lab.slug: lab for lab in labs}
    )


def lesson_context(*, page: LessonPage, user: User, request: HttpRequest) -> dict:
    """The outline (cached) and the reader's own records: enrolment, completions
    and quiz attempts, a query each."""
    outline = lesson_outline(page=page)
    canonical_id, progress = outline.canonical_id, outline.progress
    enrolled = bool(
        active_programme_ids(user=user, programme_ids=[outline.programme.pk])
    )
    lessons = progress.lessons
    done = lessons_done(user=user, lesson_ids=[item.canonical_id for item in lessons])
    for item in lessons:
        item.done = item.canonical_id in done
    index = next(
        i for i, item in enumerate(lessons) if item.canonical_id == canonical_id
    )
    course = next(
        c
        for c in progress.courses
        if any(i.canonical_id == canonical_id for i in c.lessons)
    )
    attempts: dict[str, QuizAttempt] = {}
    if user.is_authenticated:
        for attempt in QuizAttempt.objects.filter(user=user, lesson_id=canonical_id):
            attempts.setdefault(attempt.quiz_id, attempt)  # newest first
    return {
        "enrolled": enrolled,
        "programme": progress.page,
        "programme_canonical": outline.programme,
        "course_progress": course,
        "completed": lessons[index].done,
        "previous_lesson": lessons[index - 1] if index > 0 else None,
        "next_lesson": lessons[index + 1] if index + 1 < len(lessons) else None,
        "quiz_attempts": attempts,
        "published_labs": outline.published_labs,
    }


def skills_for(page: Page) -> list[Skill]:
    """The page's skills, in the page's locale where a translation exists."""
    skills = list(page.skills.prefetch_related("alignments"))  # type: ignore[attr-defined]
    if not skills:
        return []
    translated = {
        skill.translation_key: skill
        for skill in Skill.objects.filter(
            translation_key__in=[s.translation_key for s in skills], locale=page.locale
        ).prefetch_related("alignments")
    }
    return [translated.get(skill.translation_key, skill) for skill in skills]


# --- Dashboard -----------------------------------------------------------------------


def dashboard_for(*, user: User, locale: Locale) -> dict:
    """Enrolled programmes with progress and next lessons, and recent results."""
    enrolments = list(
        Enrolment.objects.filter(user=user, status=Enrolment.Status.ACTIVE)
        .select_related("programme")
        .order_by("-enrolled_at")
    )
    progress = programmes_progress(
        user=user, programmes=[e.programme for e in enrolments], locale=locale
    )
    recent = list(
        QuizAttempt.objects.filter(user=user)
        .select_related("lesson")
        .only(
            "quiz_title",
            "score",
            "max_score",
            "percent",
            "passed",
            "submitted_at",
            "lesson__id",
            "lesson__title",
            "lesson__translation_key",
            "lesson__locale_id",
            "lesson__url_path",
            "lesson__path",
            "lesson__depth",
        )[:5]
    )
    lesson_pages = localized_map([attempt.lesson for attempt in recent], locale)
    return {
        "programmes": [progress[e.programme_id] for e in enrolments],
        "recent_attempts": [
            {"attempt": attempt, "lesson": lesson_pages[attempt.lesson_id]}
            for attempt in recent
        ],
    }


# --- Instructor cohort ---------------------------------------------------------------


@dataclass
class CohortRow:
    user: User
    enrolment: Enrolment
    course_percents: list[int]
    lesson_done: list[bool]
    quiz_best: dict[str, int]
    percent: int


def cohort_rows(
    *, programme: ProgrammePage, enrolments: Sequence[Enrolment], locale: Locale
) -> tuple[ProgrammeProgress, list[CohortRow]]:
    """Progress of the given enrolments (one page of a cohort) in a few queries."""
    structure = programmes_progress(user=None, programmes=[programme], locale=locale)[
        programme.pk
    ]
    lesson_ids = [lesson.canonical_id for lesson in structure.lessons]
    user_ids = [e.user_id for e in enrolments]
    done: dict[int, set[int]] = {uid: set() for uid in user_ids}
    for user_id, lesson_id in LessonCompletion.objects.filter(
        user_id__in=user_ids, lesson_id__in=lesson_ids
    ).values_list("user_id", "lesson_id"):
        done[user_id].add(lesson_id)
    best: dict[int, dict[str, int]] = {uid: {} for uid in user_ids}
    for user_id, quiz_id, percent in QuizAttempt.objects.filter(
        user_id__in=user_ids, lesson_id__in=lesson_ids
    ).values_list("user_id", "quiz_id", "percent"):
        best[user_id][quiz_id] = max(best[user_id].get(quiz_id, 0), percent)
    rows = []
    for enrolment in enrolments:
        completed = done[enrolment.user_id]
        course_percents = []
        for course in structure.courses:
            total = len(course.lessons)
            count = sum(
                1 for lesson in course.lessons if lesson.canonical_id in completed
            )
            course_percents.append(round(100 * count / total) if total else 0)
        total = len(lesson_ids)
        rows.append(
            CohortRow(
                user=enrolment.user,
                enrolment=enrolment,
                course_percents=course_percents,
                lesson_done=[lid in completed for lid in lesson_ids],
                quiz_best=best[enrolment.user_id],
                percent=round(100 * len(completed) / total) if total else 0,
            )
        )
    return structure, rows


def cohort_course_rows(
    *,
    programme: ProgrammePage,
    course: CoursePage,
    enrolments: Sequence[Enrolment],
    locale: Locale,
) -> tuple[ProgrammeProgress, CourseProgress, list[dict]]:
    """One course's slice of ``cohort_rows``: per-lesson ticks and the course %."""
    structure, rows = cohort_rows(
        programme=programme, enrolments=enrolments, locale=locale
    )
    index = next(
        i for i, c in enumerate(structure.courses) if c.canonical_id == course.pk
    )
    offset = sum(len(c.lessons) for c in structure.courses[:index])
    width = len(structure.courses[index].lessons)
    return (
        structure,
        structure.courses[index],
        [
            {
                "row": row,
                "lessons": row.lesson_done[offset : offset + width],
                "percent": row.course_percents[index],
            }
            for row in rows
        ],
    )


def cohort_enrolments(*, programme: ProgrammePage):
    return (
        Enrolment.objects.filter(programme=programme, status=Enrolment.Status.ACTIVE)
        .select_related("user")
        .order_by("user__username")
    )


def cohort_sizes(*, programmes: Sequence[ProgrammePage]) -> dict[int, int]:
    from django.db.models import Count

    return dict(
        Enrolment.objects.filter(
            programme__in=programmes, status=Enrolment.Status.ACTIVE
        )
        .values_list("programme_id")
        .annotate(n=Count("id"))
        .values_list("programme_id", "n")
    )
