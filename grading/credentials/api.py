"""``POST /api/v1/verify``: the verdict on a credential for scripted clients.

The body is the credential itself: a compact VC-JWT as text, or JSON. Anyone may
call it (employers without an account too). Any processed request is answered 200
with the verdict, however bad the credential; only an empty body is a 400.
"""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError

from grading.credentials.ratelimit import rate_limit_hit, too_many_json
from grading.credentials.verify import MAX_INPUT_BYTES, credential_verify

router = Router(tags=["credentials"])


class CheckOut(Schema):
    name: str
    passed: bool | None
    reason: str


class VerificationOut(Schema):
    verified: bool
    status: str
    checks: list[CheckOut]
    errors: list[str]


class ErrorOut(Schema):
    detail: str


@router.post(
    "", response={200: VerificationOut, 400: ErrorOut, 429: ErrorOut}, auth=None
)
def verify(request: HttpRequest):
    """Verify the credential in the body (compact VC-JWT, or JSON: the enveloped
    credential, a JSON string holding the JWT, or a credential whose ``proof``
    holds it). ``status``: valid, revoked, expired, invalid or unknown; ``checks``
    in order: format, issuer, key, signature, validity, status. Rate limited per
    client address (429 with ``Retry-After``)."""
    retry_after = rate_limit_hit(request)
    if retry_after is not None:
        return too_many_json(retry_after)
    body = request.body[: MAX_INPUT_BYTES + 1]
    if not body.strip():
        raise HttpError(400, _("Send the credential in the request body."))
    return credential_verify(body).as_dict()
