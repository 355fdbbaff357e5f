"""Certificate rules: what a trainee must do to earn a programme's certificate.

One rule per programme (its default-language edition, as certificates are), edited
in the Wagtail admin as a snippet. Checked by ``grading.credentials.issuing`` when a
quiz result, a graded lab or a completed lesson lands. Imported by
``grading.models`` so that the grading app owns the table.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalManyToManyField
from modelcluster.models import ClusterableModel
from wagtail.admin.forms import WagtailAdminModelForm
from wagtail.admin.panels import FieldPanel, MultiFieldPanel


def default_locale_pages() -> Q:
    """Only default-language pages can be chosen: progress is recorded on them."""
    from wagtail.models import Locale

    return Q(locale=Locale.get_default())


class CertificateRuleForm(WagtailAdminModelForm):
    """Checks what the model cannot see before saving: its chosen pages."""

    def clean(self):
        cleaned = super().clean()
        programme = cleaned.get("programme")
        courses = list(cleaned.get("courses") or [])
        lessons = list(cleaned.get("quiz_lessons") or [])
        labs = list(cleaned.get("labs") or [])
        if not (courses or lessons or labs):
            raise ValidationError(
                _("Require at least one course, one lesson's quizzes or one lab.")
            )
        if programme is None:
            return cleaned
        outside = [c.title for c in courses if not c.is_descendant_of(programme)]
        if outside:
            self.add_error(
                "courses",
                _("Not in this programme: %(pages)s.") % {"pages": ", ".join(outside)},
            )
        outside = [p.title for p in lessons if not p.is_descendant_of(programme)]
        if outside:
            self.add_error(
                "quiz_lessons",
                _("Not in this programme: %(pages)s.") % {"pages": ", ".join(outside)},
            )
        quizless = [
            p.title
            for p in lessons
            if not any(b.block_type == "quiz" for b in p.specific.body)
        ]
        if quizless:
            self.add_error(
                "quiz_lessons",
                _("These lessons have no quiz: %(pages)s.")
                % {"pages": ", ".join(quizless)},
            )
        return cleaned


class CertificateRule(ClusterableModel):
    """The requirements for one programme's certificate, and how long it lasts.

    Every chosen course must be complete (all its live lessons), every quiz of the
    chosen lessons passed, every chosen lab passed; a pass mark left blank means the
    quiz's or lab's own.
    """

    class Renewal(models.TextChoices):
        EARN_AGAIN = "earn_again", _("The trainee earns it again")
        INSTRUCTOR = "instructor", _("An instructor re-issues it")

    programme = models.OneToOneField(
        "courses.ProgrammePage",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("programme"),
        limit_choices_to=default_locale_pages,
        help_text=_("The programme's English edition; it covers every translation."),
    )
    courses = ParentalManyToManyField(
        "courses.CoursePage",
        blank=True,
        related_name="+",
        verbose_name=_("courses to complete"),
        limit_choices_to=default_locale_pages,
        help_text=_("Every live lesson of each chosen course must be marked complete."),
    )
    quiz_lessons = ParentalManyToManyField(
        "courses.LessonPage",
        blank=True,
        related_name="+",
        verbose_name=_("lessons whose quizzes must be passed"),
        limit_choices_to=default_locale_pages,
        help_text=_("Every quiz in each chosen lesson must be passed."),
    )
    quiz_pass_mark = models.PositiveSmallIntegerField(
        _("quiz pass mark (%)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("Leave blank to use each quiz's own pass mark."),
    )
    labs = ParentalManyToManyField(
        "labs.Lab",
        blank=True,
        related_name="+",
        verbose_name=_("labs to pass"),
        help_text=_("The best graded submission of each lab counts."),
    )
    lab_pass_mark = models.PositiveSmallIntegerField(
        _("lab pass mark (%)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text=_("Leave blank to use each lab's own pass mark."),
    )
    validity_days = models.PositiveIntegerField(
        _("valid for (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Leave blank for a certificate that does not expire."),
    )
    renewal = models.CharField(
        _("after expiry"),
        max_length=16,
        choices=Renewal.choices,
        default=Renewal.EARN_AGAIN,
        help_text=_(
            "Earn again: results recorded after the expired certificate was issued "
            "earn a new one. Instructor: only an instructor re-issues it."
        ),
    )
    active = models.BooleanField(
        _("issuing"),
        default=True,
        help_text=_("Untick to stop issuing new certificates for this programme."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    base_form_class = CertificateRuleForm
    panels = [
        FieldPanel("programme"),
        MultiFieldPanel(
            [FieldPanel("courses"), FieldPanel("quiz_lessons")],
            heading=_("Lessons and quizzes"),
        ),
        FieldPanel("quiz_pass_mark"),
        MultiFieldPanel(
            [FieldPanel("labs"), FieldPanel("lab_pass_mark")], heading=_("Labs")
        ),
        MultiFieldPanel(
            [FieldPanel("validity_days"), FieldPanel("renewal")],
            heading=_("Validity"),
        ),
        FieldPanel("active"),
    ]

    class Meta:
        verbose_name = _("certificate rule")
        verbose_name_plural = _("certificate rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(quiz_pass_mark__lte=100) | Q(quiz_pass_mark__isnull=True),
                name="certificate_rule_quiz_pass_mark_percent",
            ),
            models.CheckConstraint(
                condition=Q(lab_pass_mark__lte=100) | Q(lab_pass_mark__isnull=True),
                name="certificate_rule_lab_pass_mark_percent",
            ),
            models.CheckConstraint(
                condition=Q(validity_days__gte=1) | Q(validity_days__isnull=True),
                name="certificate_rule_validity_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(self.programme) if self.programme_id else str(_("New rule"))

    def clean(self) -> None:
        """Chosen pages must belong to the programme; something must be required.

        The many-to-many choices are read from the form's cleaned data by
        ``CertificateRuleForm`` (they are not saved yet when ``clean`` runs).
        """
        if self.programme_id is None:
            return
        from wagtail.models import Locale

        if self.programme.locale_id != Locale.get_default().pk:
            raise ValidationError(
                {"programme": _("Choose the programme's English edition.")}
            )
