"""The trainee's dashboard and the health endpoints."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from wagtail.models import Locale

from courses.selectors import dashboard_for
from grading.credentials.selectors import dashboard_certificates
from grading.selectors import recent_submissions_for
from labs.hub import hub_ready
from labs.selectors import lab_sessions_for


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    locale = Locale.get_active()
    context = dashboard_for(user=request.user, locale=locale)
    context["lab_sessions"] = lab_sessions_for(user=request.user)
    context["lab_submissions"] = recent_submissions_for(user=request.user)
    context["certificates"] = dashboard_certificates(user=request.user, locale=locale)
    return render(request, "lms/dashboard.html", context)


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """/favicon.ico, which browsers ask for beside a page, goes to the site's icon.

    Answered with the 404 page it would set a CSRF cookie of its own (the page has
    forms), and a browser's first visit could then overwrite the cookie of the form
    it was sent with at the same moment (the sign-up form's, failing with 403).
    """
    response = HttpResponseRedirect(static("lms/favicon.svg"))
    patch_cache_control(response, public=True, max_age=86400)
    return response


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure is "not ready"
        return str(error)
    return None


def _check_broker() -> str | None:
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except Exception as error:  # noqa: BLE001
        return str(error)
    return None


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers: 200 when ready, 503 with the failures otherwise."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    if settings.READYZ_CHECK_HUB:
        checks["hub"] = hub_ready()
    ready = all(error is None for error in checks.values())
    return JsonResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": {
                name: "ok" if error is None else f"error: {error}"
                for name, error in checks.items()
            },
        },
        status=200 if ready else 503,
    )
