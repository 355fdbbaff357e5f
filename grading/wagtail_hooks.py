"""The gradebook in the Wagtail admin menu, for the instructors who author there."""

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.menu import MenuItem


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
