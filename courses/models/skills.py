import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel, InlinePanel
from wagtail.models import Orderable, TranslatableMixin
from wagtail.search import index

ESCO_URI = re.compile(
    r"^http://data\.europa\.eu/esco/skill/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}"
    r"-[0-9a-f]{4}-[0-9a-f]{12}$"
)
CN_OCCUPATION_CODE = re.compile(r"^\d-\d{2}-\d{2}-\d{2}(-\d{2})?$")


class SkillFramework(models.TextChoices):
    ESCO = (
        "esco",
        _("ESCO (European Skills, Competences, Qualifications and Occupations)"),
    )
    CN_OCCUPATION = (
        "cn-occupation",
        _("Occupational Classification of the People's Republic of China"),
    )


def reference_errors(framework: str, code: str, uri: str) -> dict[str, str]:
    """What is wrong with a framework reference, by field; empty if well formed."""
    if not code and not uri:
        return {"__all__": _("Give the skill's framework code or URI.")}
    errors = {}
    if framework == SkillFramework.ESCO and uri and not ESCO_URI.match(uri):
        errors["uri"] = _(
            "An ESCO skill URI looks like http://data.europa.eu/esco/skill/<uuid>."
        )
    cn = framework == SkillFramework.CN_OCCUPATION
    if cn and code and not CN_OCCUPATION_CODE.match(code):
        errors["code"] = _("An occupation code looks like 4-01-02-02.")
    return errors


class FrameworkReference:
    """``clean()`` and ``reference`` for a model with framework, code and uri."""

    framework: str
    code: str
    uri: str

    def clean(self) -> None:
        super().clean()  # type: ignore[misc]
        errors = reference_errors(self.framework, self.code, self.uri)
        if errors:
            raise ValidationError(errors)

    @property
    def reference(self) -> str:
        """The framework link if there is one, otherwise the code."""
        return self.uri or self.code


class Skill(FrameworkReference, TranslatableMixin, index.Indexed, ClusterableModel):
    """A skill a programme certifies, aligned to a public framework.

    ``framework``/``code``/``uri`` is the skill's main alignment (China's
    occupational classification for the catalogue's skills); ``alignments`` holds
    the concepts of other frameworks (ESCO) that it also covers. Chosen on
    programmes and courses; recorded in certificates as alignments. Translatable:
    the Chinese copy shares ``translation_key`` with the English one.
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

    panels = [
        FieldPanel("key"),
        FieldPanel("name"),
        FieldPanel("description"),
        FieldPanel("framework"),
        FieldPanel("code"),
        FieldPanel("uri"),
        InlinePanel("alignments", heading=_("Other framework alignments")),
    ]

    class Meta(TranslatableMixin.Meta):
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["key", "locale"], name="skill_key_locale")
        ]

    def __str__(self) -> str:
        return self.name


class SkillAlignment(FrameworkReference, Orderable):
    """A concept in another framework that a skill covers, e.g. an ESCO skill."""

    skill = ParentalKey(Skill, on_delete=models.CASCADE, related_name="alignments")
    framework = models.CharField(
        _("framework"),
        max_length=20,
        choices=SkillFramework.choices,
        default=SkillFramework.ESCO,
    )
    name = models.CharField(
        _("name in the framework"),
        max_length=200,
        help_text=_("The concept's own label in that framework, e.g. web analytics."),
    )
    code = models.CharField(_("framework code"), max_length=40, blank=True)
    uri = models.URLField(_("framework URI"), blank=True)

    panels = [
        FieldPanel("framework"),
        FieldPanel("name"),
        FieldPanel("uri"),
        FieldPanel("code"),
    ]

    class Meta(Orderable.Meta):
        verbose_name = _("framework alignment")
        verbose_name_plural = _("framework alignments")

    def __str__(self) -> str:
        return self.name
