"""Operations pages for staff: the Celery queues and workers (``lms.ops``)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from lms import ops


@require_GET
@never_cache
@login_required
def queues(request: HttpRequest) -> HttpResponse:
    """Queue backlog, workers and their tasks, submissions by state. Staff and
    superusers only: worker names and task ids are infrastructure details."""
    if not (request.user.is_staff or request.user.is_superuser):
        raise PermissionDenied
    return render(request, "lms/ops/queues.html", {"ops": ops.ops_overview()})
