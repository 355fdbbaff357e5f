"""Who teaches what: the one answer every instructor surface asks.

An instructor teaches the programmes whose page lists them among its
``instructors`` (on any language's edition: the programme is one, whatever the
language), and with a programme everything in it: its courses and lessons, the labs
its lessons open, its cohorts, the submissions to those labs and its certificates.
A lab opened by several programmes is taught by the instructors of each of them.

Staff and superusers see every programme. Anyone else (trainees, employers, an
instructor with no assignment) teaches nothing: the instructor pages then show
an empty state, and an object outside the assignment is a 404 as another
trainee's object is.
"""

from __future__ import annotations

from django.db.models import QuerySet
from wagtail.models import Locale

from courses.cache import content_cached
from courses.models import LessonPage, ProgrammePage
from labs.models import Lab
from lms.accounts.models import User


def teaches_everything(user: User) -> bool:
    """Staff and superusers: no assignment needed, every programme is theirs."""
    return bool(user.is_authenticated and (user.is_superuser or user.is_staff))


def programmes_taught(*, user: User) -> QuerySet[ProgrammePage]:
    """The default-locale programmes ``user`` teaches (every one for staff)."""
    canonical = ProgrammePage.objects.filter(locale=Locale.get_default())
    if teaches_everything(user):
        return canonical
    if not user.is_authenticated or not user.is_instructor:
        return canonical.none()
    keys = ProgrammePage.objects.filter(instructors=user).values("translation_key")
    return canonical.filter(translation_key__in=keys)


def teaches_nothing(user: User) -> bool:
    """An instructor with no assignment yet (their pages say whom to ask)."""
    return not teaches_everything(user) and not programmes_taught(user=user).exists()


def programme_taught(*, user: User, programme: ProgrammePage) -> bool:
    """Whether ``user`` teaches ``programme`` (in any of its languages)."""
    if teaches_everything(user):
        return True
    return (
        programmes_taught(user=user)
        .filter(translation_key=programme.translation_key)
        .exists()
    )


def lab_slugs_by_programme() -> dict[int, frozenset[str]]:
    """For each default-locale programme, the slugs of the labs its lessons open
    (in any language's edition, published or not). Read once per content
    generation: any page or lab saved makes it stale (``courses.cache``)."""
    return content_cached("teaching:programme-labs", _lab_slugs_by_programme)


def _lab_slugs_by_programme() -> dict[int, frozenset[str]]:
    default = Locale.get_default()
    programmes = list(ProgrammePage.objects.only("pk", "path", "translation_key"))
    canonical = {
        p.translation_key: p.pk
        for p in ProgrammePage.objects.filter(locale=default).only(
            "pk", "translation_key"
        )
    }
    found: dict[int, set[str]] = {pk: set() for pk in canonical.values()}
    by_prefix = {
        p.path: canonical[p.translation_key]
        for p in programmes
        if p.translation_key in canonical
    }
    step = ProgrammePage.steplen
    for path, body in LessonPage.objects.values_list("path", "body"):
        # A lesson lies at programme / course / lesson in the tree.
        programme_id = by_prefix.get(path[: len(path) - 2 * step])
        if programme_id is None:
            continue
        found[programme_id].update(_lab_slugs(body))
    return {pk: frozenset(slugs) for pk, slugs in found.items()}


def _lab_slugs(body) -> set[str]:
    raw = body.raw_data if hasattr(body, "raw_data") else body or []
    return {
        block["value"]["lab"]
        for block in raw
        if block.get("type") == "lab" and (block.get("value") or {}).get("lab")
    }


def lab_slugs_taught(*, user: User) -> set[str] | None:
    """Slugs of the labs ``user`` teaches; None for staff (every lab)."""
    if teaches_everything(user):
        return None
    by_programme = lab_slugs_by_programme()
    slugs: set[str] = set()
    for pk in programmes_taught(user=user).values_list("pk", flat=True):
        slugs |= by_programme.get(pk, frozenset())
    return slugs


def labs_taught(*, user: User) -> QuerySet[Lab]:
    """The labs ``user`` teaches (every lab for staff)."""
    slugs = lab_slugs_taught(user=user)
    return Lab.objects.all() if slugs is None else Lab.objects.filter(slug__in=slugs)


def lab_taught(*, user: User, lab: Lab) -> bool:
    """Whether ``user`` teaches a programme whose lessons open ``lab``."""
    slugs = lab_slugs_taught(user=user)
    return slugs is None or lab.slug in slugs
