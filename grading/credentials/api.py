"""``POST /api/v1/verify``: the verdict on a credential for scripted clients, and
``POST /api/v1/verify/bulk``: many certificates by id, for employer accounts.

The body is the credential itself: a compact VC-JWT as text, or JSON. Anyone may
call it (employers without an account too). Any processed request is answered 200
with the verdict, however bad the credential; only an empty body is a 400, and a
body over the credential limit (1 MB) a 413.
"""

from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError

from grading.credentials import bulk
from grading.credentials.ratelimit import rate_limit_hit, too_many_json
from grading.credentials.verify import MAX_INPUT_BYTES, credential_verify
from lms.accounts.api import api_auth
from lms.accounts.models import Role
from lms.accounts.permissions import has_role

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
    "",
    response={200: VerificationOut, 400: ErrorOut, 413: ErrorOut, 429: ErrorOut},
    auth=None,
)
def verify(request: HttpRequest):
    """Verify the credential in the body (compact VC-JWT, or JSON: the enveloped
    credential, a JSON string holding the JWT, or a credential whose ``proof``
    holds it). ``status``: valid, revoked, expired, invalid or unknown; ``checks``
    in order: format, issuer, key, signature, validity, status. At most 1 MB
    (413 beyond). Rate limited per client address (429 with ``Retry-After``)."""
    retry_after = rate_limit_hit(request)
    if retry_after is not None:
        return too_many_json(retry_after)
    # Read from the stream, no further than the limit: ``request.body`` would
    # load up to DATA_UPLOAD_MAX_MEMORY_SIZE and answer a larger body with
    # Django's HTML 400 page.
    body = request.read(MAX_INPUT_BYTES + 1)
    if len(body) > MAX_INPUT_BYTES:
        raise HttpError(413, _("The credential is too large."))
    if not body.strip():
        raise HttpError(400, _("Send the credential in the request body."))
    return credential_verify(body).as_dict()


# --- Bulk ----------------------------------------------------------------------------

BULK_UPLOAD_MAX_BYTES = 8 * 1024 * 1024
BULK_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": "id\n3f2b8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f\n",
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    },
    "responses": {
        "200": {
            "description": "One CSV row per input row, in order, streamed: "
            "id,verified,status,errors (status: valid, revoked, expired, invalid "
            "— also for a malformed id — or unknown — also for an id never issued).",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "id,verified,status,errors\n"
                    "3f2b8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f,true,valid,\n"
                    "nonsense,false,invalid,This is not a certificate identifier.\n",
                }
            },
        }
    },
}


def _bulk_body(request: HttpRequest) -> bytes:
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("file")
        if upload is None:
            raise HttpError(400, _("Send the CSV as the file field or as the body."))
        if upload.size > BULK_UPLOAD_MAX_BYTES:
            raise HttpError(413, _("The CSV is too large."))
        return upload.read()
    try:
        return request.body
    except RequestDataTooBig:
        raise HttpError(413, _("The CSV is too large.")) from None


def _chunks_in(language: str, chunks: Iterator[str]) -> Iterator[str]:
    """Each chunk produced in the request's language, whichever thread asks."""
    while True:
        with translation.override(language):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


@router.post(
    "/bulk",
    response={400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut},
    auth=api_auth,
    openapi_extra=BULK_OPENAPI,
)
def verify_bulk(request: HttpRequest):
    """Verify many certificates by id, for employer accounts (or staff).

    The body is a CSV whose first column holds certificate ids (a header ``id``
    is skipped), as ``text/csv`` or as the ``file`` field of a form upload. The
    answer streams one row per input row, in order. At most
    ``VERIFY_BULK_MAX_ROWS`` rows (413 beyond)."""
    user = request.user
    if not (has_role(user, Role.EMPLOYER) or user.is_staff):
        raise HttpError(403, _("Bulk verification is for employer accounts."))
    try:
        ids = bulk.ids_read(_bulk_body(request), max_rows=settings.VERIFY_BULK_MAX_ROWS)
    except bulk.BulkInputError as error:
        raise HttpError(error.status, error.message) from None
    chunks = _chunks_in(translation.get_language(), bulk.csv_chunks(ids))
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="verification.csv"'
    response["Cache-Control"] = "no-store"
    return response
