"""API authentication: bearer tokens (``POST /api/v1/auth/token``) or the session."""

from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from allauth.account.utils import has_verified_email
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer, django_auth

from lms.accounts import services

router = Router(tags=["auth"])


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = services.api_token_user(raw=token)
        if user is not None:
            request.user = user
        return user


#: Every authenticated endpoint accepts a bearer token or a browser session (+CSRF).
api_auth = [BearerToken(), django_auth]


class TokenIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    token: str


class ErrorOut(Schema):
    detail: str


@router.post(
    "/token",
    response={200: TokenOut, 401: ErrorOut, 403: ErrorOut, 429: ErrorOut},
    auth=None,
)
def token_create(request: HttpRequest, credentials: TokenIn):
    """Exchange a username (or email) and password for a bearer token.

    Failed attempts share the web login's throttle.
    """
    adapter = get_adapter(request)
    login = credentials.username.strip()
    key = "email" if "@" in login else "username"
    try:
        user = adapter.authenticate(
            request, **{key: login, "password": credentials.password}
        )
    except ValidationError:
        raise HttpError(429, "Too many failed attempts. Try again later.") from None
    if user is None or not user.is_active:
        raise HttpError(401, "Unknown username or wrong password.")
    # The web login refuses unverified accounts; the API must not be a way round.
    verification = account_settings.EMAIL_VERIFICATION
    if verification is verification.MANDATORY and not has_verified_email(user):
        raise HttpError(403, "Confirm your email address before using the API.")
    return {"token": services.api_token_create(user=user)}
