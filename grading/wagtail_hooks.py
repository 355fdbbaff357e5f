"""The gradebook, certificates and certificate rules in the Wagtail admin menu, for
the instructors who author there."""

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from courses.teaching import teaches_nothing
from grading.credentials.rules import CertificateRule


def _teaches(request: HttpRequest) -> bool:
    """Instructors who teach a programme, staff and superusers (``courses.teaching``);
    an instructor with no assignment yet finds the pages' empty state on the site."""
    user = request.user
    return (user.is_instructor or user.is_staff) and not teaches_nothing(user)


class GradebookMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return request.user.is_instructor and _teaches(request)


@hooks.register("register_admin_menu_item")
def register_gradebook_menu_item() -> MenuItem:
    # reverse_lazy: the URL is built on each render, in the active language.
    return GradebookMenuItem(
        _("Gradebook"),
        reverse_lazy("grading:gradebook_index"),
        name="gradebook",
        icon_name="table",
        order=270,
    )


class CertificatesMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return _teaches(request)


@hooks.register("register_admin_menu_item")
def register_certificates_menu_item() -> MenuItem:
    return CertificatesMenuItem(
        _("Certificates"),
        reverse_lazy("grading:certificates_admin"),
        name="certificates",
        icon_name="success",
        order=275,
    )


class CertificateRuleViewSet(SnippetViewSet):
    """Certificate rules, one per programme, edited by instructors and staff."""

    model = CertificateRule
    icon = "success"
    menu_label = _("Certificate rules")
    menu_name = "certificate-rules"
    menu_order = 280
    add_to_admin_menu = True
    list_display = ["programme", "validity_days", "renewal", "active", "updated_at"]
    list_filter = ["active", "renewal"]


register_snippet(CertificateRuleViewSet)
