"""The versioned JSON API (``/api/v1/``); schema at ``/api/v1/openapi.json``."""

from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI

from courses.api import router as programmes_router
from grading.api import router as grading_router
from grading.credentials.api import router as verify_router
from grading.credentials.api_holder import router as certificates_router
from labs.api import router as labs_router
from lms.accounts.api import router as auth_router

api = NinjaAPI(
    title="Silkroute Academy API",
    version="1",
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("/auth", auth_router)
api.add_router("/programmes", programmes_router)
api.add_router("/labs", labs_router)
api.add_router("/verify", verify_router)
api.add_router("/certificates", certificates_router)
api.add_router("", grading_router)  # /labs/{slug}/submissions, /submissions/{id}


def _unreadable_body(request: HttpRequest, error: Exception) -> HttpResponse:
    """A body Django cannot parse (a multipart upload without or with a broken
    boundary, too many parts, too large) is a JSON refusal like every other one
    of the API, not Django's HTML 400 page."""
    if isinstance(error, RequestDataTooBig):
        return api.create_response(
            request, {"detail": _("The request body is too large.")}, status=413
        )
    return api.create_response(
        request,
        {"detail": _("The request body cannot be read as a form upload.")},
        status=400,
    )


api.add_exception_handler(MultiPartParserError, _unreadable_body)
api.add_exception_handler(RequestDataTooBig, _unreadable_body)
api.add_exception_handler(TooManyFieldsSent, _unreadable_body)
api.add_exception_handler(TooManyFilesSent, _unreadable_body)
