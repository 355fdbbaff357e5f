"""The holder's certificate pages: the list (with progress towards the next ones
and the skills transcript), one certificate, its PDF and its credential file.

Thin: reads through ``grading.credentials.selectors``. Another trainee's
certificate is a 404, never a 403 (its existence is not confirmed); instructors
may open those of the programmes they teach, superusers any.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from grading.credentials import selectors
from grading.credentials.document import credential_url
from grading.credentials.pdf import LANGUAGES, certificate_pdf

PER_PAGE = 20


def _certificate(request: HttpRequest, certificate_id) -> selectors.HeldCertificate:
    held = selectors.certificate_of_holder(
        user=request.user, certificate_id=certificate_id
    )
    if held is None and request.user.is_instructor:
        certificate = selectors.certificate_taught(
            user=request.user, certificate_id=certificate_id
        )
        held = selectors.certificates_held([certificate])[0] if certificate else None
    if held is None:
        raise Http404
    return held


@login_required
@require_GET
def certificate_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.certificates_for(user=request.user), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "grading/credentials/certificate_list.html",
        {
            "page_obj": page,
            "certificates": selectors.certificates_held(page.object_list),
            "progress": selectors.progress_for(user=request.user),
            "transcript": selectors.skills_transcript(user=request.user),
        },
    )


@login_required
@require_GET
def certificate_detail(request: HttpRequest, certificate_id) -> HttpResponse:
    held = _certificate(request, certificate_id)
    return render(
        request,
        "grading/credentials/certificate_detail.html",
        {
            "held": held,
            "certificate": held.certificate,
            "verification_url": selectors.verification_url(held.certificate),
            "credential_url": credential_url(held.pk),
            "linkedin_url": selectors.linkedin_url(held.certificate),
            "languages": LANGUAGES,
        },
    )


@login_required
@require_GET
def certificate_pdf_download(
    request: HttpRequest, certificate_id, language: str = ""
) -> HttpResponse:
    held = _certificate(request, certificate_id)
    language = language or get_language() or "en"
    if language not in LANGUAGES:
        raise Http404
    data = certificate_pdf(certificate=held.certificate, language=language)
    response = HttpResponse(data, content_type="application/pdf")
    name = f"certificate-{held.certificate.programme_slug}-{language}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def certificate_file(request: HttpRequest, certificate_id, fmt: str) -> HttpResponse:
    """The signed credential to keep or send: the compact VC-JWT (``.jwt``), or
    the VC 2.0 enveloped credential that carries it (``.json``)."""
    held = _certificate(request, certificate_id)
    token = held.certificate.jwt
    name = f"credential-{held.pk}"
    if fmt == "jwt":
        response = HttpResponse(token, content_type="application/vc+jwt")
    elif fmt == "json":
        body = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": f"data:application/vc+jwt,{token}",
            "type": "EnvelopedVerifiableCredential",
        }
        response = HttpResponse(
            json.dumps(body, indent=2), content_type="application/json"
        )
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response
