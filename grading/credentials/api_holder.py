"""``GET /api/v1/certificates``: the caller's certificates (shared/DESIGN.md)."""

from django.http import HttpRequest
from ninja import Router, Schema

from grading.credentials import selectors
from grading.credentials.document import credential_url
from lms.accounts.api import api_auth

router = Router(tags=["certificates"])


class CertificateOut(Schema):
    id: str
    programme: str
    status: str
    credential_url: str


@router.get("", response=list[CertificateOut], auth=api_auth)
def certificates(request: HttpRequest):
    """The caller's certificates, newest first. ``programme`` is the programme's
    slug; ``status``: valid, revoked or expired; ``credential_url`` serves the
    signed credential."""
    return [
        {
            "id": str(certificate.pk),
            "programme": certificate.programme_slug,
            "status": selectors.certificate_state(certificate),
            "credential_url": credential_url(certificate.pk),
        }
        for certificate in selectors.certificates_for(user=request.user)
    ]
