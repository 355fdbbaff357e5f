"""Request ids for logs, locale handling for the URLs that live outside
``i18n_patterns`` (API, health), the page cache, the Content Security Policy and
the answer while the database is unreachable."""

import logging
import sys
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext as _

from lms import pagecache
from lms.logging import (
    REQUEST_ID_HEADER,
    request_id,
    request_id_clean,
    request_id_new,
)

log = logging.getLogger(__name__)


class RequestIdMiddleware:
    """Gives each request an id: the caller's ``X-Request-ID`` when it is a safe
    token (a proxy's or load balancer's, so their logs and ours join up), else a
    new uuid4. It is in the context for every log line of the request (and of the
    tasks it queues), on ``request.request_id``, and in the response's header.

    Sync and async capable: under ASGI it stays async, so the context variable is
    set in the request's own task and Django carries it into the sync parts.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable]
    ) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request: HttpRequest) -> str:
        value = request_id_clean(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = value or request_id_new()
        return request.request_id

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = request_id.set(self._begin(request))
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        token = request_id.set(self._begin(request))
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


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


class PageCacheMiddleware:
    """Answers Wagtail pages from the cache: anonymous visitors' shared pages and
    signed-in readers' own (``lms.pagecache`` decides what is looked up and what
    is stored). Just after WhiteNoise: a hit skips sessions, authentication, the
    language, CSRF, messages and Wagtail's routing; the security headers and the
    CSP still come from the middleware above."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = pagecache.request_lookup_key(request)
        if key is not None:
            response, generation = pagecache.cached_response(key)
            if response is not None:
                return response
            response = self.get_response(request)
            if generation is not None:
                pagecache.response_store(key, generation, request, response)
            return response
        lookup = pagecache.reader_lookup(request)
        if lookup is None:
            return self.get_response(request)
        response, lookup = pagecache.reader_cached_response(lookup)
        if response is not None:
            return response
        response = self.get_response(request)
        if lookup is not None:
            pagecache.reader_response_store(lookup, request, response)
        return response


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware (``CONTENT_SECURITY_POLICY``), extended through its
    ``get_policy_parts`` hook in two ways:

    - ``connect-src`` also names the websocket origin of the request's own host
      (``wss://`` behind https, else ``ws://``), which the live pages connect to:
      older browsers do not count it as ``'self'``.
    - Under ``CONTENT_SECURITY_POLICY_ADMIN["URL_PREFIXES"]`` (Wagtail's and Django's
      admin, which write inline scripts and styles) its ``DIRECTIVES`` replace the
      same directives of the site's policy; a view's own ``@csp_replace`` wins.
    """

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        admin = getattr(settings, "CONTENT_SECURITY_POLICY_ADMIN", None) or {}
        prefixes = tuple(admin.get("URL_PREFIXES", ()))
        if parts.replace is None and request.path_info.startswith(prefixes):
            parts.replace = admin.get("DIRECTIVES")
        try:
            host = request.get_host()
        except DisallowedHost:  # answered with 400 anyway; no origin to name
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", ()), f"{scheme}://{host}"]
        parts.update = update
        return parts


DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER = 10  # seconds: about how long a PostgreSQL restart or failover takes


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: JSON for the API (and clients asking for JSON), else
    a page of its own that needs neither the database nor the user."""
    language = translation.get_language_from_request(request, check_path=True)
    with translation.override(language):
        message = _(
            "The site cannot reach its database for a moment (maintenance or a "
            "restart). Please try again shortly."
        )
        if request.path_info.startswith("/api/") or "json" in request.headers.get(
            "Accept", ""
        ):
            response = JsonResponse(
                {"detail": message, "retry_after": RETRY_AFTER}, status=503
            )
        else:
            response = HttpResponse(
                render_to_string(
                    "503.html", {"message": message, "retry_after": RETRY_AFTER}
                ),
                status=503,
            )
    response["Retry-After"] = str(RETRY_AFTER)
    add_never_cache_headers(response)
    return response


def _database_error_note(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Marks ``request`` when an exception that became a 500 anywhere below the
    middleware (another middleware reading the session or the user) was the
    database's; ``DatabaseUnavailableMiddleware`` answers 503 instead."""
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DATABASE_ERRORS):
        request.database_error = error


got_request_exception.connect(_database_error_note, dispatch_uid="database-error-note")


class DatabaseUnavailableMiddleware:
    """While the database cannot be reached (PostgreSQL restarting, failing over),
    every request that needs it gets a clear 503 with ``Retry-After`` instead of a
    server error page or a traceback; nothing is half done (a view's transaction
    never committed). Requests that do not need the database (health, static
    files, cached pages) are answered as usual. Connections recover by themselves
    afterwards (``CONN_HEALTH_CHECKS``), with no process to restart.

    High in the stack: a database error in a view reaches ``process_exception``;
    one in a middleware below was already turned into a 500 there, which the note
    on the request turns into the 503.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable]
    ) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        error = getattr(request, "database_error", None)
        if error is None or response.status_code < 500:
            return response
        log.warning(
            "Database unreachable, answered 503 for %s: %s", request.path, error
        )
        return database_unavailable(request)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        return self._after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        return self._after(request, await self.get_response(request))

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        log.warning(
            "Database unreachable, answered 503 for %s: %s", request.path, exception
        )
        return database_unavailable(request)
