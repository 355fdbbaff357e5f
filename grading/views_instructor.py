"""The instructor's gradebook: labs at a glance, one lab's trainees (filter, sort,
CSV), one submission (manual grading, regrade, the notebook file).

Views are thin: they check the role, read through ``grading.gradebook`` and write
through ``grading.services``. Only instructors and superusers get in, and an
instructor only to the labs of the programmes they teach (``courses.teaching``):
another lab, or a submission to it, is a 404.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wagtail.models import Locale

from courses import teaching
from courses.models import ProgrammePage
from courses.selectors import localized_map
from grading import feedback, gradebook, services
from grading.models import CellGrade, Submission
from labs.models import Lab
from lms.accounts.models import Role
from lms.accounts.permissions import role_required

STAFF = (Role.INSTRUCTOR,)
PER_PAGE = 50
LABS_PER_PAGE = 50
CSV_CHUNK = 500
CSV_COLUMNS = [
    *("username", "display_name", "email", "attempts", "latest_attempt", "status"),
    *("score", "max_score", "percent", "passed", "needs_manual_grade", "best_score"),
    *("submitted_at", "submission_id"),
]


# --- Forms ----------------------------------------------------------------------------


class GradebookFilterForm(forms.Form):
    """The query string of a lab's gradebook (and of its CSV export)."""

    q = forms.CharField(label=gettext_lazy("Name or email"), required=False)
    cohort = forms.TypedChoiceField(
        label=gettext_lazy("Cohort"), required=False, coerce=int, empty_value=None
    )
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    sort = forms.ChoiceField(required=False)

    def __init__(self, *args, programmes: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cohort"].choices = [("", _("All trainees who submitted"))] + [
            (pk, title) for pk, title in programmes
        ]
        self.fields["status"].choices = [("", _("Any status"))] + [
            (value, str(label)) for value, label in gradebook.STATUS_FILTERS
        ]
        self.fields["sort"].choices = [
            (prefix + key, "") for key in gradebook.SORTS for prefix in ("", "-")
        ]

    def filters(self) -> dict:
        """Valid values only: a bad parameter is dropped rather than an error page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "query": (data.get("q") or "").strip()[:100],
            "programme_id": data.get("cohort"),
            "status": data.get("status") or "",
            "sort": data.get("sort") or "name",
        }


class ManualGradeForm(forms.Form):
    """Points and a comment for one manually graded cell; limits from the cell."""

    grade_id = forms.CharField(widget=forms.HiddenInput)
    comment = forms.CharField(
        label=gettext_lazy("Comment for the trainee"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, cell: CellGrade, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {"grade_id": cell.grade_id, "points": cell.points, "comment": cell.comment},
        )
        super().__init__(*args, prefix=f"cell-{cell.pk}", **kwargs)
        self.cell = cell
        self.fields["points"] = forms.DecimalField(
            label=_("Points (0 to %(max)s)") % {"max": _points(cell.max_points)},
            min_value=Decimal("0"),
            max_value=cell.max_points,
            max_digits=6,
            decimal_places=2,
        )
        self.order_fields(["grade_id", "points", "comment"])


def _points(value: Decimal | None, *, none: str = "—") -> str:
    """``2`` rather than ``2.00``."""
    return none if value is None else f"{value.normalize():f}"


# --- Labs at a glance -----------------------------------------------------------------


@require_GET
@role_required(*STAFF)
def gradebook_index(request: HttpRequest) -> HttpResponse:
    queue = gradebook.queue_state()
    if request.GET.get("workers") == "1":
        queue.workers = gradebook.workers_ping(timeout=1.0)
    labs = teaching.labs_taught(user=request.user).order_by("slug")
    page = Paginator(labs, LABS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "grading/instructor/index.html",
        {
            "summaries": gradebook.lab_summaries(labs=list(page)),
            "page_obj": page,
            "page_query": "",  # not ?workers=1: each page would wait for a ping
            "queue": queue,
            "workers_asked": request.GET.get("workers") == "1",
            "unassigned": teaching.teaches_nothing(request.user),
        },
    )


# --- One lab --------------------------------------------------------------------------


def _lab(request: HttpRequest, slug: str) -> Lab:
    """The lab, if the user teaches a programme that opens it; a 404 otherwise."""
    lab = get_object_or_404(Lab, slug=slug)
    if not teaching.lab_taught(user=request.user, lab=lab):
        raise Http404
    return lab


def _programmes(request: HttpRequest) -> list[ProgrammePage]:
    """The cohorts the lab's gradebook may be filtered by: the user's programmes."""
    return list(teaching.programmes_taught(user=request.user).order_by("path"))


def _filtered(request: HttpRequest, lab: Lab) -> tuple[GradebookFilterForm, dict]:
    programmes = _programmes(request)
    localized = localized_map(programmes, Locale.get_active())
    form = GradebookFilterForm(
        request.GET,
        programmes=[(p.pk, localized[p.pk].title) for p in programmes],
    )
    filters = form.filters()
    programme = next((p for p in programmes if p.pk == filters["programme_id"]), None)
    rows = gradebook.gradebook_rows(
        lab=lab,
        programme=programme,
        status=filters["status"],
        query=filters["query"],
        sort=filters["sort"],
    )
    return form, {"rows": rows, "programme": programme, **filters}


def _query_string(request: HttpRequest, **changes: str) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


def _sort_columns(request: HttpRequest, sort: str) -> dict[str, dict]:
    """Each sortable column's label, aria-sort state and link (a sorted column's
    link reverses it)."""
    columns = {}
    for key, label in gradebook.SORTS.items():
        state = {key: "ascending", f"-{key}": "descending"}.get(sort, "")
        columns[key] = {
            "label": label,
            "aria_sort": state,
            "query": _query_string(
                request, sort=f"-{key}" if state == "ascending" else key
            ),
        }
    return columns


@require_GET
@role_required(*STAFF)
def gradebook_lab(request: HttpRequest, slug: str) -> HttpResponse:
    lab = _lab(request, slug)
    form, found = _filtered(request, lab)
    filtered = any([found["query"], found["programme"], found["status"]])
    page, rows = gradebook.gradebook_page(
        found["rows"],
        number=request.GET.get("page"),
        per_page=PER_PAGE,
        count=None if filtered else gradebook.gradebook_trainees(lab=lab),
    )
    return render(
        request,
        "grading/instructor/lab.html",
        {
            "lab": lab,
            "form": form,
            "rows": rows,
            "page_obj": page,
            "columns": _sort_columns(request, found["sort"]),
            "filtered": filtered,
            "page_query": _query_string(request),
            "live_labels": _live_labels(),
            "regradable": gradebook.lab_regradable_count(lab=lab),
        },
    )


def _live_labels() -> dict:
    """Words gradebook.js needs, in the page's language."""
    return {
        "status": {value: str(label) for value, label in Submission.Status.choices},
        "passed": _("Passed"),
        "not_passed": _("Not passed"),
        "manual": _("Awaiting manual grading"),
        "just_now": _("just now"),
        "open": _("Open attempt %(n)s"),
    }


def _csv_safe(value: str) -> str:
    """Keep a spreadsheet from running a trainee-chosen name as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@role_required(*STAFF)
def gradebook_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """The rows the page shows with the same filters and order, all pages, streamed."""
    lab = _lab(request, slug)
    _form, found = _filtered(request, lab)

    def lines() -> Iterator[str]:
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        for user in found["rows"].iterator(chunk_size=CSV_CHUNK):
            row = gradebook.gradebook_row(user)
            yield writer.writerow(
                [
                    _csv_safe(user.username),
                    _csv_safe(user.display_name),
                    _csv_safe(user.email),
                    row.attempts,
                    row.attempt or "",
                    row.status or gradebook.NOT_SUBMITTED,
                    _points(row.score, none=""),
                    _points(row.max_score, none=""),
                    "" if row.percent is None else row.percent,
                    "" if row.passed is None else str(row.passed).lower(),
                    str(row.needs_manual_grade).lower(),
                    _points(row.best_score, none=""),
                    row.submitted_at.isoformat() if row.submitted_at else "",
                    row.submission_id or "",
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="gradebook-{lab.slug}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def gradebook_regrade(request: HttpRequest, slug: str) -> HttpResponse:
    """GET asks for confirmation; POST queues every submission of the lab again."""
    lab = _lab(request, slug)
    if request.method == "POST":
        count = services.lab_regrade(lab=lab)
        messages.success(
            request,
            ngettext(
                "%(n)s submission was queued for regrading; manual grades are kept.",
                "%(n)s submissions were queued for regrading; manual grades are kept.",
                count,
            )
            % {"n": count},
        )
        return redirect("grading:gradebook_lab", slug=lab.slug)
    return render(
        request,
        "grading/instructor/regrade_confirm.html",
        {"lab": lab, "count": gradebook.lab_regradable_count(lab=lab)},
    )


# --- One submission -------------------------------------------------------------------


def _submission(request: HttpRequest, pk: int) -> Submission:
    submission = gradebook.submission_for_instructor(pk=pk, user=request.user)
    if submission is None:
        raise Http404
    return submission


@require_http_methods(["GET", "POST"])
@role_required(*STAFF)
def gradebook_submission(request: HttpRequest, pk: int) -> HttpResponse:
    """The cells, their points and feedback; POST grades one manual cell."""
    submission = _submission(request, pk)
    cells = gradebook.submission_cells(submission=submission)
    forms_by_cell = {
        cell.pk: ManualGradeForm(cell=cell)
        for cell in cells
        if cell.kind == CellGrade.Kind.MANUAL
    }
    status = 200
    if request.method == "POST":
        cell = next(
            (
                c
                for c in cells
                if c.kind == CellGrade.Kind.MANUAL
                and c.grade_id == request.POST.get(f"cell-{c.pk}-grade_id")
            ),
            None,
        )
        if cell is None:
            raise Http404
        form = ManualGradeForm(request.POST, cell=cell)
        if form.is_valid():
            try:
                services.submission_grade_manual(
                    submission=submission,
                    grade_id=cell.grade_id,
                    points=form.cleaned_data["points"],
                    comment=form.cleaned_data["comment"],
                    grader=request.user,
                )
            except services.SubmissionError as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request,
                    _("Saved %(points)s of %(max)s points for “%(cell)s”.")
                    % {
                        "points": _points(form.cleaned_data["points"]),
                        "max": _points(cell.max_points),
                        "cell": cell.grade_id,
                    },
                )
                url = reverse("grading:gradebook_submission", args=[submission.pk])
                return redirect(f"{url}#cell-{cell.pk}")
        forms_by_cell[cell.pk] = form
        status = 400
    return render(
        request,
        "grading/instructor/submission.html",
        {
            "submission": submission,
            "cells": [
                {
                    "cell": cell,
                    "points": _points(cell.points),
                    "max_points": _points(cell.max_points),
                    "outcome": feedback.cell_outcome_text(
                        cell.feedback.get("outcome", "")
                    ),
                    "error": cell.feedback.get("error", ""),
                    "form": forms_by_cell.get(cell.pk),
                }
                for cell in cells
            ],
            "notes": [
                text for text in map(feedback.note_text, submission.notes) if text
            ],
            "attempts": gradebook.submission_attempts(submission=submission),
            "gradable": submission.status == Submission.Status.GRADED,
            "score": _points(submission.score),
            "max_score": _points(submission.max_score),
        },
        status=status,
    )


@require_POST
@role_required(*STAFF)
def gradebook_submission_regrade(request: HttpRequest, pk: int) -> HttpResponse:
    submission = _submission(request, pk)
    try:
        services.submission_regrade(submission=submission)
    except services.SubmissionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Queued for regrading. Manual grades are kept."))
    return redirect("grading:gradebook_submission", pk=submission.pk)


@require_GET
@role_required(*STAFF)
def gradebook_submission_notebook(request: HttpRequest, pk: int) -> FileResponse:
    """The notebook exactly as submitted, as a download (never shown inline)."""
    submission = _submission(request, pk)
    name = (
        f"{submission.lab.slug}-{submission.user.username}"
        f"-attempt{submission.attempt}.ipynb"
    )
    try:
        handle = submission.notebook.open("rb")
    except (FileNotFoundError, ValueError) as error:
        raise Http404 from error
    return FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type="application/x-ipynb+json",
    )
