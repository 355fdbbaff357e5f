"""The operations page in the Wagtail admin menu, for staff."""

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem


class OpsMenuItem(MenuItem):
    def is_shown(self, request: HttpRequest) -> bool:
        return request.user.is_staff or request.user.is_superuser


@hooks.register("register_admin_menu_item")
def register_ops_menu_item() -> MenuItem:
    return OpsMenuItem(
        _("Queues and workers"),
        reverse_lazy("ops_queues"),
        name="ops-queues",
        icon_name="cogs",
        order=900,
    )
