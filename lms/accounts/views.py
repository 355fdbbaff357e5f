from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from lms.accounts import services
from lms.accounts.forms import ProfileForm


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = services.user_profile_update(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            preferred_language=form.cleaned_data["preferred_language"],
        )
        with translation.override(user.preferred_language):
            response = redirect(reverse("profile"))
            messages.success(request, _("Your profile was saved."))
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.preferred_language,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
        return response
    return render(request, "accounts/profile.html", {"form": form})
