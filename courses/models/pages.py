"""The curriculum as Wagtail pages: catalogue → programme → course → lesson.

Each locale has its own page tree (Wagtail i18n); translations share a
``translation_key``. Learning records point at the default-locale page, so a trainee's
progress is the same whichever language they read in.
"""

import hashlib

from django import forms
from django.conf import settings
from django.db import models
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalManyToManyField
from wagtail import blocks
from wagtail.admin.panels import FieldPanel, MultiFieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.models import Page, PageViewRestriction
from wagtail.search import index

from courses.blocks import LessonStreamBlock


class Level(models.TextChoices):
    BEGINNER = "beginner", _("Beginner")
    INTERMEDIATE = "intermediate", _("Intermediate")
    ADVANCED = "advanced", _("Advanced")


class RestrictionsCheckedOnce:
    """Page view restrictions read once per content generation: with none on the
    site (the usual case) serving a page costs no query for them, instead of
    Wagtail's two (the ancestors, then their restrictions)."""

    def get_view_restrictions(self):
        from courses.cache import content_cached

        if not content_cached("view-restrictions", PageViewRestriction.objects.exists):
            return PageViewRestriction.objects.none()
        return super().get_view_restrictions()


class CataloguePage(RestrictionsCheckedOnce, Page):
    """The home page of a locale: lists its programmes."""

    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("intro")]
    parent_page_types = ["wagtailcore.Page"]
    subpage_types = ["courses.ProgrammePage"]
    max_count_per_parent = 1

    class Meta:
        verbose_name = _("catalogue")

    def route(self, request, path_components):
        """The page at the path in one query, not two per level: which page a path
        names is read once per content generation (courses.cache), then the page
        itself by its own model. Below a catalogue only programmes, courses and
        lessons live, none of which routes otherwise than Wagtail's default (each
        child by slug, the last one served when live); a path that names no page
        takes Wagtail's way."""
        if path_components:
            from django.contrib.contenttypes.models import ContentType

            from courses.cache import content_cached

            url_path = self.url_path + "/".join(path_components) + "/"
            found = content_cached(
                "route:" + hashlib.sha256(url_path.encode()).hexdigest(),
                lambda: (
                    Page.objects.filter(
                        slug=path_components[-1],
                        url_path=url_path,
                        path__startswith=self.path,
                    )
                    .values_list("pk", "content_type_id")
                    .first()
                ),
            )
            if found is not None:
                model = ContentType.objects.get_for_id(found[1]).model_class()
                page = model.objects.filter(pk=found[0]).first()
                if page is not None:
                    if not page.live:
                        raise Http404
                    return page.route(request, [])
        return super().route(request, path_components)

    def get_context(self, request, *args, **kwargs):
        from courses.selectors import catalogue_context

        context = super().get_context(request, *args, **kwargs)
        context.update(catalogue_context(page=self, user=request.user, request=request))
        return context


class ProgrammePage(RestrictionsCheckedOnce, Page):
    """A certificate track: a sequence of courses and the skills it certifies."""

    summary = models.TextField(_("summary"))
    level = models.CharField(
        _("level"), max_length=20, choices=Level.choices, default=Level.BEGINNER
    )
    hours = models.PositiveSmallIntegerField(_("hours of study"), default=10)
    hero_image = models.ForeignKey(
        "wagtailimages.Image",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = RichTextField(_("description"), blank=True)
    skills = ParentalManyToManyField("courses.Skill", blank=True, related_name="+")
    # Who teaches the programme: they see its cohorts, its labs' gradebooks and
    # submissions and its certificates (``courses.teaching``). Part of the page's
    # revisions like any field, so an assignment takes effect when published.
    instructors = ParentalManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="taught_programmes",
        limit_choices_to={"role": "instructor"},
        verbose_name=_("instructors"),
        help_text=_(
            "Instructors who teach this programme: they see its cohorts, the "
            "gradebooks and submissions of its labs, and its certificates. An "
            "assignment on any language's edition counts for the whole programme; "
            "it takes effect when the page is published."
        ),
    )

    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        MultiFieldPanel(
            [FieldPanel("level"), FieldPanel("hours"), FieldPanel("hero_image")],
            heading=_("At a glance"),
        ),
        FieldPanel("body"),
        FieldPanel("skills"),
        # Only administrators assign: an editor cannot give themselves trainees.
        FieldPanel(
            "instructors",
            widget=forms.CheckboxSelectMultiple,
            permission="courses.assign_instructors",
            heading=_("Teaching"),
        ),
    ]
    search_fields = [
        *Page.search_fields,
        index.SearchField("summary"),
        index.SearchField("body"),
    ]
    parent_page_types = ["courses.CataloguePage"]
    subpage_types = ["courses.CoursePage"]

    class Meta:
        verbose_name = _("programme")
        permissions = [
            ("assign_instructors", _("Can assign instructors to programmes"))
        ]

    def get_context(self, request, *args, **kwargs):
        from courses.selectors import programme_context

        context = super().get_context(request, *args, **kwargs)
        context.update(programme_context(page=self, user=request.user, request=request))
        return context


class CoursePage(RestrictionsCheckedOnce, Page):
    """A course within a programme: an ordered set of lessons."""

    summary = models.TextField(_("summary"))
    skills = ParentalManyToManyField("courses.Skill", blank=True, related_name="+")

    content_panels = [*Page.content_panels, FieldPanel("summary"), FieldPanel("skills")]
    search_fields = [*Page.search_fields, index.SearchField("summary")]
    parent_page_types = ["courses.ProgrammePage"]
    subpage_types = ["courses.LessonPage"]

    class Meta:
        verbose_name = _("course")

    def get_context(self, request, *args, **kwargs):
        from courses.selectors import course_context

        context = super().get_context(request, *args, **kwargs)
        context.update(course_context(page=self, user=request.user, request=request))
        return context


class LessonPage(RestrictionsCheckedOnce, Page):
    """One lesson: teaching text, examples, quizzes and labs in a StreamField."""

    summary = models.TextField(_("summary"), blank=True)
    minutes = models.PositiveSmallIntegerField(_("minutes"), default=20)
    key_terms = StreamField(
        [
            (
                "term",
                blocks.StructBlock(
                    [("term", blocks.CharBlock()), ("definition", blocks.TextBlock())]
                ),
            )
        ],
        blank=True,
        verbose_name=_("key terms"),
    )
    body = StreamField(LessonStreamBlock(), blank=True, verbose_name=_("body"))
    translated = models.BooleanField(
        _("fully translated"),
        default=True,
        help_text=_("Untick while the body is still in the source language."),
    )

    content_panels = [
        *Page.content_panels,
        FieldPanel("summary"),
        FieldPanel("minutes"),
        FieldPanel("body"),
        FieldPanel("key_terms"),
        FieldPanel("translated"),
    ]
    search_fields = [
        *Page.search_fields,
        index.SearchField("summary"),
        index.SearchField("body"),
    ]
    parent_page_types = ["courses.CoursePage"]
    subpage_types: list[str] = []

    class Meta:
        verbose_name = _("lesson")

    def get_context(self, request, *args, **kwargs):
        from courses.selectors import lesson_context

        context = super().get_context(request, *args, **kwargs)
        context.update(lesson_context(page=self, user=request.user, request=request))
        return context
