"""Locale handling for the URLs that live outside ``i18n_patterns`` (API, health)."""

from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's, except that a 404 from a view outside ``i18n_patterns`` stands.

    Django answers a 404 on an unprefixed path with a redirect to ``/<lang>/<path>``
    whenever that path is valid, and Wagtail's catch-all makes every prefixed path
    valid: the API answered "unknown programme" with a 302 to a Wagtail page.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        if response.status_code == 404 and not translation.get_language_from_path(
            request.path_info
        ):
            try:
                resolve(request.path_info, getattr(request, "urlconf", None))
                matched = True
            except Resolver404:  # no view: maybe only the language prefix is missing
                matched = request.path_info.startswith("/api/")
            if matched:
                patch_vary_headers(response, ("Accept-Language",))
                response.headers.setdefault(
                    "Content-Language", translation.get_language()
                )
                return response
        return super().process_response(request, response)
