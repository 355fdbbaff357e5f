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

Signed-in readers' pages are kept too, each for its reader alone
(``lms.middleware.ReaderPageCacheMiddleware``, last of the middleware, so the
session, the user, the language and CSRF are settled as for any request):

- The key holds the reader, their CSRF secret (the forms in a stored page carry a
  token of it; signing in again rotates it, and with it the key), the host, the
  path with its query string, the language and the method. Nothing is looked up or
  stored while messages wait to be shown.
- An entry carries the content generation and the reader's own version
  (``lms.accounts.readerstate``: enrolments, completions, quiz attempts, lab
  sessions, submissions, certificates and the account bump it), both read before
  rendering; it is never served under another of either.
- A page that changes by itself at a moment (a lab's deadline passing) is stored
  no longer than until then (``readerstate.page_valid_until``).

``PAGE_CACHE_SECONDS`` (0 turns both caches off) bounds how long an entry lives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import get_language_from_path

from courses.cache import GENERATION_KEY, content_generation
from lms.accounts.readerstate import reader_state_key, reader_state_version

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
    language = _page_path_language(request)
    if language is None:
        return None
    digest = hashlib.sha256(request.get_full_path().encode()).hexdigest()
    return f"pagecache:{request.method}:{request.get_host()}:{language}:{digest}"


def _page_path_language(request: HttpRequest) -> str | None:
    """The language of a language-prefixed path that may be a Wagtail page."""
    path = request.path_info
    language = get_language_from_path(path)
    if language is None or path[len(language) + 2 :].startswith(EXCLUDED):
        return None
    return language


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
    return _response(entry), generation


def _response(entry: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(entry["content"], status=entry["status"])
    for name, value in entry["headers"]:
        response.headers[name] = value
    response.headers[HIT_HEADER] = "hit"
    return response


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
    cache.set(key, _entry(response, generation=generation), page_cache_seconds())
    response.headers[HIT_HEADER] = "miss"


def _entry(response: HttpResponse, **stamp: int) -> dict[str, Any]:
    headers = [
        (name, value)
        for name, value in response.headers.items()
        if name.lower() not in ("set-cookie", "x-request-id", HIT_HEADER.lower())
    ]
    return {
        **stamp,
        "status": response.status_code,
        "headers": headers,
        "content": response.content,
    }


# --- Signed-in readers' pages ----------------------------------------------------


@dataclass(frozen=True)
class ReaderLookup:
    """What a signed-in reader's page was looked up under."""

    key: str
    user_id: int
    csrf_secret: str
    generation: int | None = None
    version: int | None = None


def reader_lookup(request: HttpRequest) -> ReaderLookup | None:
    """Where ``request``'s page is kept for its signed-in reader, or None when it
    must not come from (nor go to) the cache."""
    if page_cache_seconds() <= 0 or request.method not in METHODS:
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    meta = request.META
    csrf_secret = meta.get("CSRF_COOKIE")
    if (
        not csrf_secret
        or meta.get("CSRF_COOKIE_NEEDS_UPDATE")
        or "HTTP_AUTHORIZATION" in meta
        or "messages" in request.COOKIES
        or "_messages" in request.session
    ):
        return None
    language = _page_path_language(request)
    if language is None:
        return None
    digest = hashlib.sha256(
        f"{request.get_full_path()}\0{csrf_secret}".encode()
    ).hexdigest()
    key = (
        f"readerpage:{request.method}:{request.get_host()}:{language}:"
        f"{user.pk}:{digest}"
    )
    return ReaderLookup(key=key, user_id=user.pk, csrf_secret=csrf_secret)


def reader_cached_response(
    lookup: ReaderLookup,
) -> tuple[HttpResponse | None, ReaderLookup]:
    """The reader's stored page if it is of the current content generation and
    reader version, and the lookup with both (one round trip to the cache)."""
    state_key = reader_state_key(lookup.user_id)
    found = cache.get_many([GENERATION_KEY, state_key, lookup.key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        generation = content_generation()
    version = found.get(state_key)
    if version is None:
        version = reader_state_version(user_id=lookup.user_id)
    lookup = replace(lookup, generation=generation, version=version)
    entry = found.get(lookup.key)
    if entry is None or entry["generation"] != generation or entry["reader"] != version:
        return None, lookup
    return _response(entry), lookup


def reader_response_store(
    lookup: ReaderLookup, request: HttpRequest, response: HttpResponse
) -> None:
    """Keep a signed-in reader's page under the stamps read before rendering, when
    it is a Wagtail page answered 200 that changed neither the session nor the CSRF
    secret and queued no message."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != "wagtail_serve":
        return
    if response.status_code != 200 or response.streaming or response.cookies:
        return
    if "Set-Cookie" in response or request.META.get("CSRF_COOKIE") != (
        lookup.csrf_secret
    ):
        return
    control = response.headers.get("Cache-Control", "").lower()
    if "no-store" in control or "no-cache" in control:
        return
    if request.session.modified or "_messages" in request.session:
        return
    storage = getattr(request, "_messages", None)
    if storage is not None and getattr(storage, "_queued_messages", None):
        return
    seconds = page_cache_seconds()
    until = getattr(request, "page_valid_until", None)
    if until is not None:
        seconds = min(seconds, int((until - timezone.now()).total_seconds()))
    if seconds <= 0 or lookup.generation is None or lookup.version is None:
        return
    if "Cache-Control" not in response:  # for this reader's browser alone
        response.headers["Cache-Control"] = "private"
    entry = _entry(response, generation=lookup.generation, reader=lookup.version)
    cache.set(lookup.key, entry, seconds)
    response.headers[HIT_HEADER] = "miss"
