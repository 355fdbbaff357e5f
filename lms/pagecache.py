"""The page cache: whole Wagtail pages, for anonymous visitors and for each
signed-in reader.

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

Signed-in readers' pages are kept too, each for its reader alone, and answered by
the same middleware, before sessions, authentication, the language, CSRF and
messages run: what those would settle is checked against the entry instead.

- The key holds the session key and the CSRF secret from the cookies (the forms in
  a stored page carry a token of that secret; signing in again rotates both), the
  host, the path with its query string, the language of the path and the method.
  Nothing is looked up while a messages cookie is sent.
- A hit needs the session as the session engine keeps it in the cache
  (``cached_db``): a signed-in one, with no message waiting, exactly the one the
  page was rendered with (its digest is in the entry, so a sign-out, a new
  sign-in, a password change or anything else the session holds is seen), for
  the user the entry was rendered for.
- An entry carries the content generation and the reader's own version
  (``lms.accounts.readerstate``: enrolments, completions, quiz attempts, lab
  sessions, submissions, certificates and the account bump it), both read before
  rendering; it is never served under another of either.
- It is stored only when the page set no cookie but the CSRF one with the same
  secret (Django sends it again to extend its expiry; a hit does not), changed no
  session and queued no message, was rendered for that session's user with the
  cookie's CSRF secret, and is a Wagtail page answered 200. It keeps the headers
  the middleware below added (``Vary``, ``Content-Language``,
  ``X-Frame-Options``); the security headers and the CSP come from the
  middleware above, on every answer.
- A page that changes by itself at a moment (a lab's deadline passing) is stored
  no longer than until then (``readerstate.page_valid_until``).

``PAGE_CACHE_SECONDS`` (0 turns both caches off) bounds how long an entry lives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CSRF_SECRET_LENGTH
from django.utils import timezone
from django.utils.translation import get_language_from_path

from courses.cache import GENERATION_KEY, content_generation
from lms.accounts.readerstate import reader_state_version

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


def _entry(response: HttpResponse, **stamp: Any) -> dict[str, Any]:
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
    """What a signed-in reader's page is looked up (and stored) under."""

    key: str
    session_key: str
    csrf_secret: str
    user_id: int | None = None
    session_digest: str = ""
    generation: int | None = None
    version: int | None = None


def reader_lookup(request: HttpRequest) -> ReaderLookup | None:
    """Where ``request``'s page may be kept for a signed-in reader, read from the
    cookies alone (this runs before sessions), or None when it must not come from
    (nor go to) the cache."""
    if page_cache_seconds() <= 0 or request.method not in METHODS:
        return None
    cookies = request.COOKIES
    session_key = cookies.get(settings.SESSION_COOKIE_NAME, "")
    csrf_secret = cookies.get(settings.CSRF_COOKIE_NAME, "")
    if (
        not _token(session_key)
        or len(csrf_secret) != CSRF_SECRET_LENGTH
        or not _token(csrf_secret)
        or settings.CSRF_USE_SESSIONS
        or "messages" in cookies
        or "HTTP_AUTHORIZATION" in request.META
        or _session_cache_prefix() is None
    ):
        return None
    language = _page_path_language(request)
    if language is None:
        return None
    digest = hashlib.sha256(
        f"{request.get_full_path()}\0{session_key}\0{csrf_secret}".encode()
    ).hexdigest()
    key = f"readerpage:{request.method}:{request.get_host()}:{language}:{digest}"
    return ReaderLookup(key=key, session_key=session_key, csrf_secret=csrf_secret)


def _token(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isascii() and value.isalnum()


def _session_cache_prefix() -> str | None:
    """Where the session engine keeps sessions in the default cache (``cached_db``
    and ``cache`` do), or None if it does not."""
    if settings.SESSION_CACHE_ALIAS != "default":
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return getattr(store, "cache_key_prefix", None)


def _session_digest(session: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(session, sort_keys=True, default=str).encode()
    ).hexdigest()


def reader_cached_response(
    lookup: ReaderLookup,
) -> tuple[HttpResponse | None, ReaderLookup | None]:
    """The reader's stored page if their session is the one it was rendered with
    and it is of the current content generation and reader version; and the
    lookup with those stamps, or None when the session is not a signed-in one
    found in the cache (the request then goes through as usual, and is not kept).

    Two round trips to the cache: the generation, the session and the entry;
    then the reader's version (the user is known from the session only)."""
    session_key = f"{_session_cache_prefix()}{lookup.session_key}"
    found = cache.get_many([GENERATION_KEY, session_key, lookup.key])
    session = found.get(session_key)
    if not isinstance(session, dict) or "_messages" in session:
        return None, None
    try:
        user_id = int(session[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None, None
    generation = found.get(GENERATION_KEY)
    if generation is None:
        generation = content_generation()
    version = reader_state_version(user_id=user_id)
    lookup = replace(
        lookup,
        user_id=user_id,
        session_digest=_session_digest(session),
        generation=generation,
        version=version,
    )
    entry = found.get(lookup.key)
    if (
        entry is None
        or entry.get("user") != user_id
        or entry.get("session") != lookup.session_digest
        or entry["generation"] != generation
        or entry["reader"] != version
    ):
        return None, lookup
    return _response(entry), lookup


def reader_response_store(
    lookup: ReaderLookup, request: HttpRequest, response: HttpResponse
) -> None:
    """Keep a signed-in reader's page under the stamps read before rendering, when
    it is a Wagtail page answered 200 for that session's user, rendered with the
    session as it was read (unchanged, no message waiting) and the CSRF secret of
    the cookie, and setting no cookie."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != "wagtail_serve":
        return
    if response.status_code != 200 or response.streaming or "Set-Cookie" in response:
        return
    # A page with a form sends the CSRF cookie again, with the same secret, only to
    # push its expiry on (a year); a hit leaves that out. Any other cookie, or
    # another secret, and the page is not kept.
    secret = request.META.get("CSRF_COOKIE")
    csrf = response.cookies.get(settings.CSRF_COOKIE_NAME)
    if secret != lookup.csrf_secret or set(response.cookies) - {
        settings.CSRF_COOKIE_NAME
    }:
        return
    if csrf is not None and csrf.value != secret:
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.pk != lookup.user_id:
        return
    control = response.headers.get("Cache-Control", "").lower()
    if "no-store" in control or "no-cache" in control:
        return
    session = request.session
    if (
        session.modified
        or session.session_key != lookup.session_key
        or "_messages" in session
        or _session_digest(dict(session.items())) != lookup.session_digest
    ):
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
    entry = _entry(
        response,
        generation=lookup.generation,
        reader=lookup.version,
        user=lookup.user_id,
        session=lookup.session_digest,
    )
    cache.set(lookup.key, entry, seconds)
    response.headers[HIT_HEADER] = "miss"
