"""The gradebook, certificates and certificate rules in the Wagtail admin menu, for
the instructors who author there."""

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from grading.credentials.rules import CertificateRule


class GradebookMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return request.user.is_instructor


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
        return request.user.is_instructor or request.user.is_staff


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
