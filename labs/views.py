"""Lab launch, progress page, stop and reset; and the hub's sign-on identity."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.decorators import protected_resource

from labs import hub, services
from labs.models import Lab
from lms.accounts.models import Role
from lms.accounts.permissions import role_required


@require_GET
@protected_resource(scopes=["identity"])
def hub_identity(request: HttpRequest) -> JsonResponse:
    """Who the OAuth2 token belongs to, for the hub's GenericOAuthenticator."""
    user = request.resource_owner
    return JsonResponse({"name": hub.hub_username(user.pk), "display_name": str(user)})


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@require_POST
@role_required(Role.TRAINEE)
def launch(request: HttpRequest, slug: str) -> HttpResponse:
    lab = get_object_or_404(Lab, slug=slug)
    try:
        result = services.lab_launch(user=request.user, lab=lab)
    except services.LabError as error:
        messages.error(request, str(error))
        return redirect(_back(request))
    if result.status == "ready":
        return redirect(result.lab_url)
    return render(
        request,
        "labs/starting.html",
        {"lab": lab, "launch": result, "back": _back(request)},
    )


@require_GET
@role_required(Role.TRAINEE)
def progress(request: HttpRequest, slug: str) -> HttpResponse:
    """The starting page again (e.g. after a reload); the websocket does the rest."""
    lab = get_object_or_404(Lab, slug=slug)
    launch = services.Launch(
        "starting",
        services.lab_url(user=request.user, lab=lab),
        request.path,
    )
    return render(request, "labs/starting.html", {"lab": lab, "launch": launch})


@require_POST
@role_required(Role.TRAINEE)
def reset(request: HttpRequest, slug: str) -> HttpResponse:
    lab = get_object_or_404(Lab, slug=slug)
    try:
        services.lab_files_place(user=request.user, lab=lab, reset=True)
    except services.LabError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, _("The lab notebook was reset; your earlier copy was kept.")
        )
    return redirect(_back(request))


@require_POST
@role_required(Role.TRAINEE)
def stop(request: HttpRequest) -> HttpResponse:
    try:
        services.lab_stop(user=request.user)
    except services.LabError as error:
        messages.error(request, str(error))
    return redirect(_back(request))
