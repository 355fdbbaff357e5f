import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail.models import TranslatableMixin
from wagtail.search import index

ESCO_URI = re.compile(
    r"^http://data\.europa\.eu/esco/skill/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
    r"-[0-9a-f]{4}-[0-9a-f]{12}$"
)
CN_OCCUPATION_CODE = re.compile(r"^\d-\d{2}-\d{2}-\d{2}(-\d{2})?$")


class SkillFramework(models.TextChoices):
    ESCO = "esco", _("ESCO (European Skills, Competences and Occupations)")
    CN_OCCUPATION = (
        "cn-occupation",
        _("Occupational Classification of the People's Republic of China"),
    )


class Skill(TranslatableMixin, index.Indexed, models.Model):
    """A skill a programme certifies, aligned to a public framework.

    Chosen on programmes and courses; later recorded in certificates as alignments.
    Translatable: the Chinese copy shares ``translation_key`` with the English one.
    """

    key = models.SlugField(
        _("key"), max_length=80, help_text=_("Stable identifier used in imports.")
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    framework = models.CharField(
        _("framework"), max_length=20, choices=SkillFramework.choices
    )
    code = models.CharField(_("framework code"), max_length=40, blank=True)
    uri = models.URLField(_("framework URI"), blank=True)

    search_fields = [index.SearchField("name"), index.SearchField("description")]

    class Meta(TranslatableMixin.Meta):
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["key", "locale"], name="skill_key_locale")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.code and not self.uri:
            raise ValidationError(_("Give the skill's framework code or URI."))
        esco = self.framework == SkillFramework.ESCO
        if esco and self.uri and not ESCO_URI.match(self.uri):
            raise ValidationError(
                {
                    "uri": _(
                        "An ESCO skill URI looks like "
                        "http://data.europa.eu/esco/skill/<uuid>."
                    )
                }
            )
        cn = self.framework == SkillFramework.CN_OCCUPATION
        if cn and self.code and not CN_OCCUPATION_CODE.match(self.code):
            raise ValidationError(
                {"code": _("An occupation code looks like 4-01-02-02.")}
            )

    @property
    def reference(self) -> str:
        """The framework link if there is one, otherwise the code."""
        return self.uri or self.code
