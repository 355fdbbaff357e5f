"""Serve a signed-in user in their preferred language unless they chose another."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class PreferredLanguageMiddleware:
    """Before LocaleMiddleware: the profile's language stands in for no cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cookie = settings.LANGUAGE_COOKIE_NAME
        user = getattr(request, "user", None)
        if cookie not in request.COOKIES and user is not None and user.is_authenticated:
            request.COOKIES[cookie] = user.preferred_language
        return self.get_response(request)
