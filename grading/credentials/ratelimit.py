"""Rate limits of the public verification endpoints, counted in the shared cache.

A fixed window per client address (``VERIFY_RATE_LIMIT``, e.g. ``60/m``), shared by
every public verification endpoint, so that ids cannot be tried faster through
one of them. The counters live in the Django cache (Redis in production), so every
process and server counts together.

The client address is ``REMOTE_ADDR`` unless ``TRUSTED_PROXY_COUNT`` says how
many proxies in front of us append to ``X-Forwarded-For``: then it is the entry
that many places from the right (what the outermost trusted proxy saw). The
header is never read otherwise, since any client can write it. IPv6 clients are
counted per /64, the block one subscriber usually holds.

Why not a library: django-ratelimit is not installed, and neither it nor
allauth's limiter (whose public module is marked for deprecation) answers with
``Retry-After`` or takes the proxy count this way; this is one cache counter.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PREFIX = "ratelimit:"


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


def limit_parse(text: str) -> Limit | None:
    """``"60/m"``, ``"1000/h"``, ``"10/30s"``; empty or ``"0"``: no limit."""
    if not text or text.strip() in {"0", "off", "none"}:
        return None
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"Not a rate limit: {text!r} (e.g. 60/m, 10/30s).")
    count, number, unit = match.groups()
    return Limit(int(count), int(number or 1) * _UNITS[unit])


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting ``TRUSTED_PROXY_COUNT`` proxies only."""
    address = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.headers.get("X-Forwarded-For", "") if hops > 0 else ""
    if forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if chain:
            address = chain[-hops] if len(chain) >= hops else chain[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        if not ip.is_loopback:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def rate_limit_hit(
    request: HttpRequest, *, scope: str = "verify", rate: str | None = None
) -> int | None:
    """Count this request; None when allowed, else the seconds to wait."""
    limit = limit_parse(settings.VERIFY_RATE_LIMIT if rate is None else rate)
    if limit is None:
        return None
    now = time.time()
    window = int(now // limit.seconds)
    key = f"{_PREFIX}{scope}:{client_address(request)}:{window}"
    count = getattr(cache, "count", None)
    if count is not None:  # the shared cache on Redis (lms.cache): one round trip
        count = count(key, limit.seconds + 1)
    else:  # the embedded default's file cache
        cache.add(key, 0, timeout=limit.seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=limit.seconds + 1)
            count = 1
    if count <= limit.count:
        return None
    return max(1, math.ceil((window + 1) * limit.seconds - now))


def too_many_message(retry_after: int) -> str:
    return _(
        "Too many verification requests from your address. "
        "Try again in %(seconds)s seconds."
    ) % {"seconds": retry_after}


def too_many_json(retry_after: int) -> JsonResponse:
    response = JsonResponse({"detail": too_many_message(retry_after)}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def too_many_page(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = render(
        request,
        "grading/credentials/too_many.html",
        {"message": too_many_message(retry_after)},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(
    view: Callable[..., HttpResponse] | None = None,
    *,
    json: bool = False,
    methods: tuple[str, ...] | None = None,
):
    """Limit a view (only ``methods`` when given); 429 with ``Retry-After``."""

    def decorator(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(func)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if methods is None or request.method in methods:
                retry_after = rate_limit_hit(request)
                if retry_after is not None:
                    if json:
                        return too_many_json(retry_after)
                    return too_many_page(request, retry_after)
            return func(request, *args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator
