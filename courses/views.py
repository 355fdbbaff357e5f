"""Trainee actions (enrol, complete, answer quizzes), search and instructor cohorts.

Views are thin: they check the role, call a service or selector, and render.
"""

import csv

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from wagtail.models import Locale, Page

from courses import search as course_search
from courses import selectors, services, teaching
from courses.models import CoursePage, LessonPage, ProgrammePage
from lms.accounts.models import Role
from lms.accounts.permissions import role_required

LEARNERS = (Role.TRAINEE,)
STAFF = (Role.INSTRUCTOR,)


def _back(request: HttpRequest, page: Page) -> HttpResponse:
    return redirect(page.get_url(request) or "/")


@require_POST
@role_required(*LEARNERS)
def enrol(request: HttpRequest, page_id: int) -> HttpResponse:
    programme = get_object_or_404(ProgrammePage.objects.live(), pk=page_id)
    try:
        services.enrolment_create(user=request.user, programme=programme)
    except services.LearningError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("You are enrolled in %(title)s.") % {"title": programme.title}
        )
    return _back(request, programme)


@require_POST
@role_required(*LEARNERS)
def leave(request: HttpRequest, page_id: int) -> HttpResponse:
    programme = get_object_or_404(ProgrammePage.objects.live(), pk=page_id)
    services.enrolment_leave(user=request.user, programme=programme)
    messages.info(
        request,
        _("You left %(title)s. Your progress is kept if you return.")
        % {"title": programme.title},
    )
    return _back(request, programme)


@require_POST
@role_required(*LEARNERS)
def lesson_complete(request: HttpRequest, page_id: int) -> HttpResponse:
    lesson = get_object_or_404(LessonPage.objects.live(), pk=page_id)
    undo = request.POST.get("undo") == "1"
    try:
        if undo:
            services.lesson_uncomplete(user=request.user, lesson=lesson)
        else:
            services.lesson_complete(user=request.user, lesson=lesson)
    except services.LearningError as error:
        messages.error(request, str(error))
        return _back(request, lesson)
    if undo:
        return _back(request, lesson)
    messages.success(request, _("Lesson marked complete."))
    next_url = request.POST.get("next", "")
    if next_url.startswith("/") and not next_url.startswith("//"):
        return redirect(next_url)
    return _back(request, lesson)


@require_POST
@role_required(*LEARNERS)
def quiz_submit(request: HttpRequest, page_id: int, quiz_id: str) -> HttpResponse:
    lesson = get_object_or_404(LessonPage.objects.live(), pk=page_id)
    answers = {
        key.removeprefix("q-"): request.POST.getlist(key)
        for key in request.POST
        if key.startswith("q-")
    }
    try:
        attempt = services.quiz_attempt_submit(
            user=request.user, lesson=lesson, quiz_id=quiz_id, answers=answers
        )
    except services.LearningError as error:
        messages.error(request, str(error))
    else:
        text = _("You scored %(score)s of %(max)s (%(percent)s%%).") % {
            "score": attempt.score,
            "max": attempt.max_score,
            "percent": attempt.percent,
        }
        if attempt.passed:
            messages.success(request, text + " " + _("Passed."))
        else:
            messages.warning(request, text + " " + _("Not passed yet: try again."))
    return redirect(f"{lesson.get_url(request)}#quiz-{quiz_id}")


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    results = course_search.pages_search(query=query, locale=Locale.get_active())
    page = Paginator(results, 20).get_page(request.GET.get("page"))
    return render(request, "courses/search.html", {"query": query, "results": page})


def _programme_for_staff(request: HttpRequest, page_id: int) -> ProgrammePage:
    """The programme (default-locale edition), if the user teaches it: a 404
    otherwise, as for any object that is not theirs."""
    programme = get_object_or_404(ProgrammePage, pk=page_id)
    if not teaching.programme_taught(user=request.user, programme=programme):
        raise Http404
    return services.page_canonical(programme)


@require_GET
@role_required(*STAFF)
def cohort_index(request: HttpRequest) -> HttpResponse:
    programmes = list(teaching.programmes_taught(user=request.user).order_by("path"))
    localized = selectors.localized_map(programmes, Locale.get_active())
    counts = selectors.cohort_sizes(programmes=programmes)
    return render(
        request,
        "courses/cohort_index.html",
        {
            "programmes": [
                {"page": localized[p.pk], "id": p.pk, "count": counts.get(p.pk, 0)}
                for p in programmes
            ],
            "unassigned": not teaching.teaches_everything(request.user),
        },
    )


@require_GET
@role_required(*STAFF)
def cohort_programme(request: HttpRequest, page_id: int) -> HttpResponse:
    programme = _programme_for_staff(request, page_id)
    page = Paginator(selectors.cohort_enrolments(programme=programme), 50).get_page(
        request.GET.get("page")
    )
    structure, rows = selectors.cohort_rows(
        programme=programme, enrolments=list(page), locale=Locale.get_active()
    )
    return render(
        request,
        "courses/cohort_programme.html",
        {
            "structure": structure,
            "rows": rows,
            "page_obj": page,
            "programme": programme,
        },
    )


@require_GET
@role_required(*STAFF)
def cohort_course(request: HttpRequest, page_id: int) -> HttpResponse:
    course = services.page_canonical(get_object_or_404(CoursePage, pk=page_id))
    programme = ProgrammePage.objects.ancestor_of(course).get()
    if not teaching.programme_taught(user=request.user, programme=programme):
        raise Http404
    page = Paginator(selectors.cohort_enrolments(programme=programme), 50).get_page(
        request.GET.get("page")
    )
    structure, course_progress, rows = selectors.cohort_course_rows(
        programme=programme,
        course=course,
        enrolments=list(page),
        locale=Locale.get_active(),
    )
    return render(
        request,
        "courses/cohort_course.html",
        {
            "structure": structure,
            "course": course_progress,
            "programme": programme,
            "rows": rows,
            "page_obj": page,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@role_required(*STAFF)
def cohort_csv(request: HttpRequest, page_id: int) -> StreamingHttpResponse:
    """The whole cohort as CSV, streamed in chunks of 500 trainees."""
    programme = _programme_for_staff(request, page_id)
    locale = Locale.get_default()

    def lines():
        writer = csv.writer(_Echo())
        enrolments = selectors.cohort_enrolments(programme=programme)
        structure = None
        for start in range(0, enrolments.count(), 500):
            chunk = list(enrolments[start : start + 500])
            structure, rows = selectors.cohort_rows(
                programme=programme, enrolments=chunk, locale=locale
            )
            if start == 0:
                yield writer.writerow(
                    ["username", "display_name", "email", "enrolled_at", "programme_%"]
                    + [f"{c.page.title} %" for c in structure.courses]
                    + ["lessons_done", "lessons_total", "quizzes_passed_best_%"]
                )
            for row in rows:
                yield writer.writerow(
                    [
                        row.user.username,
                        row.user.display_name,
                        row.user.email,
                        row.enrolment.enrolled_at.isoformat(),
                        row.percent,
                        *row.course_percents,
                        sum(row.lesson_done),
                        len(row.lesson_done),
                        ";".join(f"{k}={v}" for k, v in sorted(row.quiz_best.items())),
                    ]
                )
        if structure is None:
            yield writer.writerow(["username", "display_name", "email", "enrolled_at"])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="cohort-{programme.slug}.csv"'
    )
    return response
