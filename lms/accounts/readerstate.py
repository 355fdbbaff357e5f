"""A version number per user for what the site shows them of their own records.

Signed-in readers' pages are kept whole in the cache (``lms.pagecache``), each with
the version of its reader read before rendering and never served under another.
Anything that changes what a page shows a user of their own — enrolments,
completions, quiz attempts, lab sessions, submissions, certificates, the account
itself — bumps that user's version, at once and again after the transaction
commits (a page read just before the commit is not kept as current), the same way
``courses.cache`` bumps the content generation.

Each app connects :func:`on_record_change` to its own per-user models and calls
:func:`reader_state_bump` where it writes with ``QuerySet.update()`` (which sends
no signal).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone


def reader_state_key(user_id: int) -> str:
    return f"reader:{user_id}"


def reader_state_version(*, user_id: int) -> int:
    """The user's current version; a new or emptied cache starts one from the clock,
    so that it cannot repeat an older one that stored pages may still carry."""
    key = reader_state_key(user_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, time.time_ns(), None)
        version = cache.get(key)
    return version


def reader_state_bump(*, user_ids: Iterable[int]) -> None:
    """Make every stored page of these users stale now, and again on commit."""
    keys = [reader_state_key(user_id) for user_id in set(user_ids) if user_id]
    if not keys:
        return
    _bump(keys)
    transaction.on_commit(lambda: _bump(keys))


def _bump(keys: list[str]) -> None:
    for key in keys:
        try:
            cache.incr(key)
        except ValueError:  # none yet, or evicted: a value no older page can hold
            cache.set(key, time.time_ns(), None)


def on_record_change(sender, instance, **kwargs) -> None:
    """post_save and post_delete of a model with a ``user`` (or of a user)."""
    user_id = getattr(instance, "user_id", None)
    if user_id is None and getattr(instance, "USERNAME_FIELD", None):
        user_id = instance.pk
    if user_id is not None:
        reader_state_bump(user_ids=[user_id])


def page_valid_until(request: HttpRequest | None, moment: datetime | None) -> None:
    """Note that the page being rendered for ``request`` changes by itself at
    ``moment`` (a deadline passing): a stored copy must not outlive it."""
    if request is None or moment is None or moment <= timezone.now():
        return
    current = getattr(request, "page_valid_until", None)
    if current is None or moment < current:
        request.page_valid_until = moment
