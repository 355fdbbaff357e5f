from django.utils.translation import gettext_lazy as _
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from courses.models import Skill


class SkillViewSet(SnippetViewSet):
    model = Skill
    icon = "pick"
    menu_label = _("Skills")
    menu_order = 250
    add_to_admin_menu = True
    list_display = ["name", "framework", "code", "uri"]
    list_filter = ["framework", "locale"]
    search_fields = ["name", "description", "code"]


register_snippet(SkillViewSet)
