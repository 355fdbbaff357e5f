"""The anonymous page cache: whole Wagtail pages for visitors without a session.

A hit is answered from Django's cache before sessions, authentication, CSRF and
Wagtail's routing run (``lms.middleware.PageCacheMiddleware`` sits just after
WhiteNoise), so a cached lesson costs about what a static file does.

What it guarantees:

- Only anonymous ``GET``/``HEAD`` requests for language-prefixed paths are looked
  up: a request with a session or messages cookie or an Authorization header never
  is, nor the site's own views under the language prefix (accounts, dashboard,
  learn, labs, grading, ops). Root-level URLs (admin, API, OAuth, credentials,
  verification, health) have no language prefix and are never looked up.
- Only Wagtail pages (the ``wagtail_serve`` view) answered 200 are stored, and
  never a response that sets a cookie, uses a CSRF token, is marked private or
  no-store, or comes with a session that holds anything: nothing per visitor can be
  handed to another. (Anonymous pages carry no CSRF token: the header's language
  switcher is a pair of links for them.)
- The key holds the host, the full path with its query string, the language and
  the method.
- Entries are stored with the content generation of ``courses.cache`` read before
  rendering and never served under another: publishing, unpublishing, moving,
  saving or deleting any page (or a lab, skill, locale or view restriction the
  pages show) makes every stored page stale at once.

``PAGE_CACHE_SECONDS`` (0 turns the cache off) bounds how long an entry lives.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import get_language_from_path

from courses.cache import GENERATION_KEY, content_generation

HIT_HEADER = "X-Page-Cache"
# The site's own views under the language prefix: never pages of the cache.
EXCLUDED = (
    "accounts/",
    "dashboard/",
    "learn/",
    "labs/",
    "grading/",
    "ops/",
    "admin/",
    "api/",
    "o/",
    "credentials/",
    "verify/",
)
METHODS = ("GET", "HEAD")


def page_cache_seconds() -> int:
    return settings.PAGE_CACHE_SECONDS


def request_lookup_key(request: HttpRequest) -> str | None:
    """The cache key of ``request``'s page, or None when it must not be served
    from the cache (signed in or maybe so, not a page, not GET/HEAD)."""
    if page_cache_seconds() <= 0 or request.method not in METHODS:
        return None
    cookies = request.COOKIES
    if (
        settings.SESSION_COOKIE_NAME in cookies
        or "messages" in cookies
        or "HTTP_AUTHORIZATION" in request.META
    ):
        return None
    path = request.path_info
    language = get_language_from_path(path)
    if language is None:
        return None
    rest = path[len(language) + 2 :]  # after "/<language>/"
    if rest.startswith(EXCLUDED):
        return None
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()
    return f"pagecache:{request.method}:{request.get_host()}:{language}:{digest}"


def cached_response(key: str) -> tuple[HttpResponse | None, int | None]:
    """The stored response under ``key`` if it is of the current generation, and
    that generation (one round trip to the cache)."""
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        return None, content_generation()
    entry = found.get(key)
    if entry is None or entry["generation"] != generation:
        return None, generation
    response = HttpResponse(entry["content"], status=entry["status"])
    for name, value in entry["headers"]:
        response.headers[name] = value
    response.headers[HIT_HEADER] = "hit"
    return response, generation


def response_storable(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether ``response`` is the same for every anonymous visitor: a Wagtail
    page answered 200 that sets no cookie, used no CSRF token and no session."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != "wagtail_serve":
        return False
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or "Set-Cookie" in response:
        return False
    control = response.headers.get("Cache-Control", "").lower()
    if any(word in control for word in ("private", "no-store", "no-cache")):
        return False
    session = getattr(request, "session", None)
    return session is None or not (session.modified or session.keys())


def response_store(
    key: str, generation: int, request: HttpRequest, response: HttpResponse
) -> None:
    """Keep ``response`` under ``key`` for the generation read before rendering."""
    if not response_storable(request, response):
        return
    headers = [
        (name, value)
        for name, value in response.headers.items()
        if name.lower() not in ("set-cookie", "x-request-id", HIT_HEADER.lower())
    ]
    entry: dict[str, Any] = {
        "generation": generation,
        "status": response.status_code,
        "headers": headers,
        "content": response.content,
    }
    cache.set(key, entry, page_cache_seconds())
    response.headers[HIT_HEADER] = "miss"
