"""Labs in the JSON API: list and launch."""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.errors import HttpError

from labs import services
from labs.models import Lab
from lms.accounts.api import api_auth
from lms.accounts.models import Role
from lms.accounts.permissions import has_role

router = Router(tags=["labs"])


class LabOut(Schema):
    slug: str
    title: str
    title_zh: str
    points: float
    pass_mark: int
    url: str


class LaunchOut(Schema):
    status: str
    progress_url: str
    lab_url: str


class ErrorOut(Schema):
    detail: str


RETRY_AFTER_SECONDS = 30


def unavailable(detail: str) -> JsonResponse:
    """503 with ``Retry-After``: the lab service is down or busy, not the request."""
    response = JsonResponse({"detail": detail}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


@router.get("", response=list[LabOut], auth=api_auth)
def lab_list(request: HttpRequest):
    """Published labs. (``url`` opens the lab once launched.)"""
    return [
        {
            "slug": lab.slug,
            "title": lab.title,
            "title_zh": lab.title_zh,
            "points": float(lab.points),
            "pass_mark": lab.pass_mark,
            "url": services.lab_url(user=request.user, lab=lab),
        }
        for lab in Lab.objects.filter(status=Lab.Status.PUBLISHED)
    ]


@router.post("/{slug}/launch", response={200: LaunchOut, 503: ErrorOut}, auth=api_auth)
def lab_launch(request: HttpRequest, slug: str):
    """Start (or reuse) the caller's lab server and place the lab in it.

    ``status`` is ``ready`` (open ``lab_url``) or ``starting`` (follow the
    websocket at ``progress_url``, or poll this endpoint again).
    """
    if not has_role(request.user, Role.TRAINEE):
        raise HttpError(403, "Only trainees open labs.")
    lab = get_object_or_404(Lab, slug=slug, status=Lab.Status.PUBLISHED)
    try:
        launch = services.lab_launch(user=request.user, lab=lab)
    except services.LabError as error:
        return unavailable(str(error))
    return {
        "status": launch.status,
        "progress_url": f"/ws/labs/{lab.slug}/progress/",
        "lab_url": launch.lab_url,
    }
