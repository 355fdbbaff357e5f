"""Labs in the Wagtail admin: instructors edit them and see the self-check report.

Saving a lab queues ``lab_publish`` (nbgrader generate + self-check) on the worker;
the list shows each lab's status and the report says why a lab failed.
"""

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from labs.models import Lab


class LabViewSet(SnippetViewSet):
    model = Lab
    icon = "code"
    menu_label = _("Labs")
    menu_order = 260
    add_to_admin_menu = True
    list_display = ["title", "slug", "status", "version", "checked_at"]
    list_filter = ["status"]
    search_fields = ["title", "title_zh", "slug"]
    panels = [
        MultiFieldPanel(
            [
                FieldPanel("slug"),
                FieldRowPanel([FieldPanel("title"), FieldPanel("title_zh")]),
                FieldRowPanel(
                    [FieldPanel("description"), FieldPanel("description_zh")]
                ),
            ],
            heading=_("Lab"),
        ),
        MultiFieldPanel(
            [
                FieldPanel("source_archive"),
                FieldPanel("notebook"),
                FieldPanel("data_files"),
                FieldPanel("version"),
            ],
            heading=_("Source"),
        ),
        FieldRowPanel(
            [
                FieldPanel("points"),
                FieldPanel("pass_mark"),
                FieldPanel("time_limit_minutes"),
                FieldPanel("max_attempts"),
            ]
        ),
        MultiFieldPanel(
            [
                FieldPanel("status", read_only=True),
                FieldPanel("check_log", read_only=True),
                FieldPanel("checked_at", read_only=True),
            ],
            heading=_("Self-check"),
        ),
    ]


register_snippet(LabViewSet)


def _queue_publish(request, instance) -> None:
    if isinstance(instance, Lab):
        from labs.tasks import lab_publish

        transaction.on_commit(lambda: lab_publish.delay(instance.pk))


hooks.register("after_create_snippet", _queue_publish)
hooks.register("after_edit_snippet", _queue_publish)
