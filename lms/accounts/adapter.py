from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation


class AccountAdapter(DefaultAccountAdapter):
    """Land signed-in users on their dashboard, in their preferred language."""

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        with translation.override(request.user.preferred_language):
            return reverse("dashboard")

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # Confirming the email after sign-up logs in through this URL, not the above.
        return self.get_login_redirect_url(request)
