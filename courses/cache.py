"""What every reader sees alike, kept in Django's cache between requests.

A generation number stands for the state of the published content: publishing,
unpublishing, moving, saving or deleting any page, and saving or deleting a lab, a
skill, a locale, a page view restriction, a document or an image bumps it, at once
and again after the transaction commits (so that what a request read just before
the commit is not kept as current). Every entry is stored with the generation it
was read under and is never used under another, so none outlives the content it
came from.

``lms.pagecache`` keys whole anonymous pages by the same generation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

GENERATION_KEY = "content:generation"
# How long an entry may live at most; a bump makes it stale at once anyway.
SECONDS = 3600

T = TypeVar("T")


def content_generation() -> int:
    """The current generation. A new or emptied cache has none: it is set from the
    clock, so that it cannot repeat an older one that entries may still carry."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, time.time_ns(), None)
        generation = cache.get(GENERATION_KEY)
    return generation


def content_generation_bump() -> None:
    """Make every entry stale now, and again once the transaction commits."""
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # none yet, or evicted: a value no older entry can hold
        cache.set(GENERATION_KEY, time.time_ns(), None)


def content_cached(name: str, compute: Callable[[], T]) -> T:
    """``compute()``, read once per generation (one round trip to the cache when
    it is there). ``compute`` must not depend on who is asking."""
    key = f"content:{name}"
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        generation = content_generation()
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        return entry[1]
    value = compute()
    cache.set(key, (generation, value), SECONDS)
    return value


# --- Signal receivers (connected in courses.apps) ------------------------------------


def on_page_change(sender, **kwargs) -> None:
    """page_published, page_unpublished, post_page_move."""
    content_generation_bump()


def on_model_change(sender, instance, **kwargs) -> None:
    """post_save and post_delete of any model: pages (all page models share
    Wagtail's base; a draft or a script's direct save of a live page may change
    what readers see), labs, skills, locales, view restrictions, and the documents
    and images that lessons and programmes show."""
    from wagtail.documents.models import AbstractDocument
    from wagtail.images.models import AbstractImage
    from wagtail.models import Locale, Page, PageViewRestriction

    from courses.models import Skill
    from labs.models import Lab

    shown = (Page, Lab, Skill, Locale, PageViewRestriction)
    if isinstance(instance, shown + (AbstractDocument, AbstractImage)):
        content_generation_bump()
