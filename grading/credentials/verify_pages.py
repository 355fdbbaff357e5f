"""The employer's verification pages: ``/verify/<id>`` and the ``/verify`` form.

Both show a verdict from ``verify.credential_verify`` (the cryptographic checks on
the signed credential), never from a database flag. What the page shows of the
credential is the verified payload only; nothing from an unverified one.

The pages live outside the language prefixes: the QR code printed on a
certificate is the bare ``/verify/<id>``, which must stay valid whatever the
reader's language, and a redirect to ``/en/…`` would only add a hop while fixing
the language of whoever scanned first. The language comes from the cookie or
``Accept-Language`` (LocaleMiddleware), and the site's switcher sets the cookie.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from grading.credentials.jose import MAX_TOKEN_CHARS
from grading.credentials.ratelimit import rate_limited
from grading.credentials.verify import (
    MAX_INPUT_BYTES,
    Status,
    Verification,
    certificate_uuid,
    credential_verify,
    not_found,
    verify_by_id,
)

UUID_IN_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")

VERDICTS = {
    Status.VALID: (
        pgettext_lazy("verification", "Valid"),
        _("This credential is authentic, within its validity period and not revoked."),
    ),
    Status.REVOKED: (
        pgettext_lazy("verification", "Revoked"),
        _("The academy has revoked this credential: do not rely on it."),
    ),
    Status.EXPIRED: (
        pgettext_lazy("verification", "Expired"),
        _("This credential was authentic but its validity period has ended."),
    ),
    Status.INVALID: (
        pgettext_lazy("verification", "Invalid"),
        _("This credential failed verification: do not rely on it."),
    ),
    Status.UNKNOWN: (
        pgettext_lazy("verification", "Cannot be confirmed"),
        _("The credential's status could not be checked: do not rely on it yet."),
    ),
    "not_found": (
        pgettext_lazy("verification", "Not found"),
        _("No credential has this identifier. Check the link or the id."),
    ),
}
CHECK_NAMES = {
    "format": pgettext_lazy("verification", "Format"),
    "issuer": pgettext_lazy("verification", "Issuer"),
    "key": pgettext_lazy("verification", "Signing key"),
    "signature": pgettext_lazy("verification", "Signature"),
    "validity": pgettext_lazy("verification", "Validity period"),
    "status": pgettext_lazy("verification", "Revocation status"),
}


# --- What the page shows --------------------------------------------------------


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _link(value) -> str:
    """Only web links become links (a signed payload is still data)."""
    text = _text(value)
    return text if text.startswith(("https://", "http://")) else ""


def _moment(value) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        moment = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _dicts(value) -> list[dict]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def credential_summary(payload: dict, *, language: str) -> dict:
    """The verified credential as the page shows it, in ``language`` where the
    credential has that edition (the Chinese name and description of the
    achievement are on its ``related`` entry)."""
    subject = payload.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    achievement = subject.get("achievement")
    achievement = achievement if isinstance(achievement, dict) else {}
    name, description = achievement.get("name"), achievement.get("description")
    if language == "zh-hans":
        for related in _dicts(achievement.get("related")):
            if related.get("inLanguage") == "zh-Hans":
                name = related.get("name") or name
                description = related.get("description") or description
    criteria = achievement.get("criteria")
    described = {
        d.get("id"): d for d in _dicts(achievement.get("resultDescription", []))
    }
    results = []
    for result in _dicts(subject.get("result", [])):
        about = described.get(result.get("resultDescription"), {})
        results.append(
            {
                "name": _text(about.get("name")),
                "value": _text(result.get("value")),
                "max": _text(about.get("valueMax")),
                "required": _text(about.get("requiredValue")),
                "percent": about.get("resultType") == "Percent",
            }
        )
    identity = next(iter(_dicts(subject.get("identifier", []))), {})
    issuer = payload.get("issuer")
    issuer = issuer if isinstance(issuer, dict) else {"id": issuer}
    return {
        "id": _text(payload.get("id")),
        "name": _text(name),
        "description": _text(description),
        "criteria": _text(criteria.get("narrative"))
        if isinstance(criteria, dict)
        else "",
        "achievement_url": _link(achievement.get("id")),
        "achievement_type": _text(achievement.get("achievementType")),
        "skills": [
            {
                "name": _text(a.get("targetName")),
                "code": _text(a.get("targetCode")),
                "framework": _text(a.get("targetFramework")),
                "url": _link(a.get("targetUrl")),
                "description": _text(a.get("targetDescription")),
            }
            for a in _dicts(achievement.get("alignment", []))
        ],
        "results": results,
        "evidence": [
            {"name": _text(e.get("name")), "id": _text(e.get("id"))}
            for e in _dicts(payload.get("evidence", []))
        ],
        "identity": {
            "type": _text(identity.get("identityType")),
            "hashed": identity.get("hashed") is True,
            "hash": _text(identity.get("identityHash")),
            "salt": _text(identity.get("salt")),
        },
        "issuer": {
            "name": _text(issuer.get("name")),
            "id": _text(issuer.get("id")),
            "url": _link(issuer.get("url")),
        },
        "valid_from": _moment(payload.get("validFrom")),
        "valid_until": _moment(payload.get("validUntil")),
        "issued_at": _moment(payload.get("iat")),
    }


def holder_name(payload: dict) -> str:
    """The holder's display name from our certificate records, if any: the
    credential itself names the holder only by a hashed email address."""
    from grading.credentials.models import Certificate

    ident = _text(payload.get("id"))
    key = certificate_uuid(ident.removeprefix("urn:uuid:")) if ident else None
    if key is None:
        return ""
    certificate = Certificate.objects.filter(pk=key).select_related("user").first()
    return certificate.user.display_name if certificate else ""


def _result_page(
    request: HttpRequest, verification: Verification, *, source: str
) -> HttpResponse:
    found = bool(verification.checks)
    verdict = verification.status if found else "not_found"
    label, explanation = VERDICTS[verdict]
    payload = verification.credential
    context = {
        "verification": verification,
        "verdict": verdict,
        "verdict_label": label,
        "verdict_explanation": explanation,
        "source": source,
        "checks": [
            {
                "name": CHECK_NAMES.get(check.name, check.name),
                "passed": check.passed,
                "reason": check.reason,
            }
            for check in verification.checks
        ],
        "credential": credential_summary(
            payload, language=translation.get_language() or "en"
        )
        if payload
        else None,
        "holder_name": holder_name(payload) if payload else "",
    }
    response = render(
        request,
        "grading/credentials/verify_result.html",
        context,
        status=200 if found else 404,
    )
    response["Cache-Control"] = "no-cache"  # a revocation shows at once
    return response


@require_GET
@rate_limited
def verify_certificate(request: HttpRequest, certificate_id: str) -> HttpResponse:
    """``/verify/<id>``: the verdict on the credential issued under this id."""
    if certificate_uuid(certificate_id) is None:
        return _result_page(request, not_found(), source="id")
    return _result_page(request, verify_by_id(certificate_id), source="id")


# --- The form -------------------------------------------------------------------


class VerifyForm(forms.Form):
    """An id or a link (any address holding a certificate id), a pasted
    credential, or a credential file."""

    reference = forms.CharField(
        label=_("Certificate id, link or credential"),
        required=False,
        max_length=MAX_TOKEN_CHARS,
        strip=True,
        help_text=_(
            "For example the link under the QR code, "
            "or an id like 3f2b8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f."
        ),
    )
    file = forms.FileField(
        label=_("Credential file"),
        required=False,
        help_text=_("The credential as JSON or as a compact JWT, up to 1 MB."),
    )

    certificate_id: str | None = None
    credential_data: bytes | str | None = None

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is not None and upload.size > MAX_INPUT_BYTES:
            raise ValidationError(
                _("The file is too large: a credential is at most 1 MB."),
                code="too_large",
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        upload, reference = cleaned.get("file"), cleaned.get("reference") or ""
        if self.errors:
            return cleaned
        if upload is not None:
            self.credential_data = upload.read(MAX_INPUT_BYTES + 1)
        elif reference.startswith(("{", '"')) or COMPACT_JWS.match(reference):
            self.credential_data = reference
        elif reference:
            match = UUID_IN_TEXT.search(reference)
            if match is None:
                self.add_error(
                    "reference",
                    ValidationError(
                        _(
                            "No certificate id in this text: paste the link to the "
                            "certificate, its id, or the credential itself."
                        ),
                        code="no_id",
                    ),
                )
            else:
                self.certificate_id = match.group(0).lower()
        else:
            self.add_error(
                "reference",
                ValidationError(
                    _("Paste an id or a link, or choose a credential file."),
                    code="empty",
                ),
            )
        return cleaned


@require_http_methods(["GET", "POST"])
@rate_limited(methods=("POST",))
def verify_form(request: HttpRequest) -> HttpResponse:
    """``/verify``: verify by id, link, pasted credential or uploaded file."""
    form = VerifyForm(request.POST, request.FILES) if request.method == "POST" else None
    if form is not None and form.is_valid():
        if form.certificate_id is not None:
            return redirect(
                "credentials:verify_certificate",
                certificate_id=form.certificate_id,
                permanent=False,
            )
        source = "file" if form.cleaned_data.get("file") else "text"
        return _result_page(
            request, credential_verify(form.credential_data), source=source
        )
    return render(
        request,
        "grading/credentials/verify_form.html",
        {"form": form or VerifyForm()},
        status=400 if form is not None else 200,
    )
