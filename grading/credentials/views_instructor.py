"""The instructor's certificates: list (filter, search, about to expire), revoke
with a reason and re-issue, each after a confirmation page and only by POST.

Instructors, staff and superusers only, and an instructor only for the
programmes they teach (``courses.teaching``): another programme's certificate is a
404. Writes go through ``grading.credentials.services``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from courses.teaching import teaches_nothing
from grading.credentials import selectors, services
from grading.credentials.models import Certificate

PER_PAGE = 50


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not (request.user.is_instructor or request.user.is_staff):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _certificate(request: HttpRequest, certificate_id) -> Certificate:
    certificate = selectors.certificate_taught(
        user=request.user, certificate_id=certificate_id
    )
    if certificate is None:
        raise Http404
    return certificate


class CertificateFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Trainee or programme"), required=False)
    programme = forms.TypedChoiceField(
        label=gettext_lazy("Programme"), required=False, coerce=int, empty_value=None
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            ("", gettext_lazy("Any")),
            (selectors.State.VALID, gettext_lazy("Valid")),
            (selectors.State.EXPIRED, gettext_lazy("Expired")),
            (selectors.State.REVOKED, gettext_lazy("Revoked")),
        ],
    )
    expiring = forms.BooleanField(
        label=gettext_lazy("Expiring within 30 days"), required=False
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["programme"].choices = [
            ("", _("All programmes")),
            *[
                (p.pk, p.title)
                for p in selectors.programmes_with_certificates(user=user)
            ],
        ]


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Kept with the certificate and shown to the holder. Verifiers see "
            "only that it is revoked."
        ),
    )


@staff_required
@require_GET
def certificates_admin(request: HttpRequest) -> HttpResponse:
    form = CertificateFilterForm(request.GET or None, user=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    found = selectors.certificates_admin(
        user=request.user,
        programme_id=filters.get("programme"),
        state=filters.get("status") or "",
        query=(filters.get("q") or "").strip(),
        expiring_days=selectors.EXPIRING_DAYS if filters.get("expiring") else None,
    )
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "grading/credentials/admin_list.html",
        {
            "form": form,
            "page_obj": page,
            "certificates": selectors.certificates_held(page.object_list),
            "page_query": query.urlencode(),
            "expiring_count": selectors.certificates_admin(
                user=request.user, expiring_days=selectors.EXPIRING_DAYS
            ).count(),
            "unassigned": teaches_nothing(request.user),
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def certificate_revoke(request: HttpRequest, certificate_id) -> HttpResponse:
    certificate = _certificate(request, certificate_id)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.certificate_revoke(
            certificate=certificate, reason=form.cleaned_data["reason"], by=request.user
        )
        messages.success(request, _("The certificate has been revoked."))
        return redirect("grading:certificates_admin")
    return render(
        request,
        "grading/credentials/admin_confirm.html",
        {
            "held": selectors.certificates_held([certificate])[0],
            "form": form,
            "action": "revoke",
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def certificate_reissue(request: HttpRequest, certificate_id) -> HttpResponse:
    certificate = _certificate(request, certificate_id)
    if request.method == "POST":
        new = services.certificate_reissue(certificate=certificate, by=request.user)
        messages.success(
            request,
            _("A new certificate has been issued: %(id)s.") % {"id": new.pk},
        )
        return redirect("grading:certificates_admin")
    return render(
        request,
        "grading/credentials/admin_confirm.html",
        {"held": selectors.certificates_held([certificate])[0], "action": "reissue"},
    )
