"""Catalogue search in both languages.

Wagtail's database backend tokenises on spaces and punctuation, which suits English
but not Chinese (no spaces between words), so a query containing CJK characters is
also matched as a substring of titles and summaries.
"""

import re

from django.db.models import Q
from wagtail.models import Locale, Page

from courses.models import CoursePage, LessonPage, ProgrammePage

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
SEARCHABLE = (ProgrammePage, CoursePage, LessonPage)


def pages_search(*, query: str, locale: Locale) -> list[Page]:
    """Live programme, course and lesson pages of ``locale`` matching ``query``."""
    if not query:
        return []
    base = Page.objects.live().filter(locale=locale).type(*SEARCHABLE)
    found: dict[int, Page] = {}
    for page in base.search(query, operator="and"):
        found.setdefault(page.pk, page)
    if CJK.search(query):
        terms = [term for term in query.split() if term]
        condition = Q()
        for term in terms:
            condition &= (
                Q(title__icontains=term)
                | Q(programmepage__summary__icontains=term)
                | Q(coursepage__summary__icontains=term)
                | Q(lessonpage__summary__icontains=term)
            )
        for page in base.filter(condition).order_by("path")[:200]:
            found.setdefault(page.pk, page)
    specific = Page.objects.filter(pk__in=list(found)).specific().in_bulk()
    return [specific[pk] for pk in found if pk in specific]
