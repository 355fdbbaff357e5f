"""Programmes in the JSON API: list and enrol."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from wagtail.models import Locale

from courses import services
from courses.models import ProgrammePage
from lms.accounts.api import api_auth
from lms.accounts.models import Role
from lms.accounts.permissions import has_role

router = Router(tags=["programmes"])


class ProgrammeOut(Schema):
    slug: str
    title: str
    locale: str
    url: str


class EnrolmentOut(Schema):
    programme: str
    status: str
    enrolled_at: str


@router.get("", response=list[ProgrammeOut], auth=None)
def programme_list(request: HttpRequest, locale: str | None = None):
    """Live programmes in every language, or in ``locale`` (``en``, ``zh-hans``)."""
    pages = ProgrammePage.objects.live().select_related("locale").order_by("path")
    if locale:
        if not Locale.objects.filter(language_code=locale).exists():
            raise HttpError(400, f"Unknown locale {locale!r}.")
        pages = pages.filter(locale__language_code=locale)
    return [
        {
            "slug": page.slug,
            "title": page.title,
            "locale": page.locale.language_code,
            "url": page.get_full_url(request),
        }
        for page in pages
    ]


@router.post(
    "/{slug}/enrolment", response={201: EnrolmentOut, 200: EnrolmentOut}, auth=api_auth
)
def programme_enrol(request: HttpRequest, slug: str):
    """Enrol the caller (a trainee). Enrolling again is harmless and answers 200."""
    if not has_role(request.user, Role.TRAINEE):
        raise HttpError(403, "Only trainees can enrol in programmes.")
    programme = get_object_or_404(
        ProgrammePage.objects.live(), slug=slug, locale=Locale.get_default()
    )
    already = services.enrolment_active(user=request.user, programme=programme)
    try:
        enrolment = services.enrolment_create(user=request.user, programme=programme)
    except services.LearningError as error:
        raise HttpError(409, str(error)) from None
    body = {
        "programme": programme.slug,
        "status": enrolment.status,
        "enrolled_at": enrolment.enrolled_at.isoformat(),
    }
    return Status(200 if already else 201, body)


@router.delete("/{slug}/enrolment", response={204: None}, auth=api_auth)
def programme_leave(request: HttpRequest, slug: str):
    programme = get_object_or_404(
        ProgrammePage.objects.live(), slug=slug, locale=Locale.get_default()
    )
    services.enrolment_leave(user=request.user, programme=programme)
    return Status(204, None)
