"""The trainee's submission pages: submit a lab, its history, a submission's feedback.

Each page has a "part" view that renders only its live section; the page's script
fetches it when a websocket event about the page's lab or submission arrives.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from grading import selectors, services
from grading.models import Submission
from labs.models import Lab
from lms.accounts.models import Role
from lms.accounts.permissions import role_required


class UploadForm(forms.Form):
    notebook = forms.FileField(
        help_text=gettext_lazy(
            "The .ipynb file of this lab, for example downloaded from JupyterLab "
            "(File → Download) or worked on offline."
        ),
        error_messages={
            "required": gettext_lazy("Choose the .ipynb file to upload."),
            "empty": gettext_lazy("The file is empty."),
        },
    )


def _lab_context(request: HttpRequest, lab: Lab) -> dict:
    return {
        "lab": lab,
        "summary": selectors.lab_submissions_summary(user=request.user, lab=lab),
        "submissions": selectors.submissions_for(user=request.user, lab=lab),
    }


@require_http_methods(["GET", "POST"])
@role_required(Role.TRAINEE)
def lab_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    """Submit ``slug`` (from the running lab or an upload) and see earlier attempts."""
    lab = get_object_or_404(Lab, slug=slug, status=Lab.Status.PUBLISHED)
    form = UploadForm()
    from_lab, error = False, ""
    if request.method == "POST":
        from_lab = request.POST.get("source") == Submission.Source.LAB
        if not from_lab:
            form = UploadForm(request.POST, request.FILES)
        if from_lab or form.is_valid():
            try:
                data = (
                    None
                    if from_lab
                    else selectors.upload_read(upload=form.cleaned_data["notebook"])
                )
                submission = services.submission_create(
                    user=request.user, lab=lab, data=data
                )
            except services.SubmissionError as refused:
                error = str(refused)
                if not from_lab:
                    form.add_error("notebook", error)
            else:
                messages.success(
                    request,
                    _("Attempt %(attempt)s was submitted and is queued for grading.")
                    % {"attempt": submission.attempt},
                )
                return redirect("grading:submission_feedback", pk=submission.pk)
    context = _lab_context(request, lab)
    # An upload's error shows on its field; otherwise (from the lab, or the forms
    # are gone because the lab just closed) above the forms.
    shown_on_field = not from_lab and context["summary"].can_submit
    context.update({"form": form, "submit_error": "" if shown_on_field else error})
    return render(request, "grading/trainee/lab_submissions.html", context)


@require_GET
@role_required(Role.TRAINEE)
def lab_submissions_part(request: HttpRequest, slug: str) -> HttpResponse:
    """The attempts and history section alone, for live updates."""
    lab = get_object_or_404(Lab, slug=slug, status=Lab.Status.PUBLISHED)
    return render(request, "grading/trainee/_history.html", _lab_context(request, lab))


def _submission_context(request: HttpRequest, pk: int) -> dict:
    submission = selectors.submission_visible(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404
    return {
        "submission": submission,
        "own": submission.user_id == request.user.pk,
        "cells": selectors.submission_cells(submission=submission),
        "notes": selectors.submission_notes(submission=submission),
        "errors": selectors.submission_errors(submission=submission),
    }


@require_GET
@login_required
def submission_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """The grade and feedback of one submission; it updates live while grading."""
    return render(
        request,
        "grading/trainee/submission_feedback.html",
        _submission_context(request, pk),
    )


@require_GET
@login_required
def submission_feedback_part(request: HttpRequest, pk: int) -> HttpResponse:
    """The result section alone, for live updates."""
    return render(
        request, "grading/trainee/_result.html", _submission_context(request, pk)
    )
