"""StreamField blocks of a lesson body.

The quiz block's template never renders which choices are correct nor the numeric
answer: grading happens on the server (``courses.services.quiz_attempt_submit``).
"""

from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from wagtail import blocks
from wagtail.contrib.table_block.blocks import TableBlock
from wagtail.documents.blocks import DocumentChooserBlock
from wagtail.embeds.blocks import EmbedBlock
from wagtail.images.blocks import ImageBlock

CODE_LANGUAGES = [
    ("python", "Python"),
    ("sql", "SQL"),
    ("bash", "Shell"),
    ("json", "JSON"),
    ("text", _("Plain text")),
]


class CodeBlock(blocks.StructBlock):
    language = blocks.ChoiceBlock(choices=CODE_LANGUAGES, default="python")
    code = blocks.TextBlock()

    class Meta:
        icon = "code"
        label = _("Code listing")
        template = "courses/blocks/code.html"

    def get_context(self, value, parent_context=None):
        context = super().get_context(value, parent_context)
        try:
            lexer = get_lexer_by_name(value["language"])
        except ClassNotFound:
            lexer = get_lexer_by_name("text")
        context["highlighted"] = mark_safe(  # noqa: S308 - Pygments escapes the source
            highlight(value["code"], lexer, HtmlFormatter(cssclass="highlight"))
        )
        return context


class CalloutBlock(blocks.StructBlock):
    style = blocks.ChoiceBlock(
        choices=[
            ("note", _("Note")),
            ("tip", _("Tip")),
            ("example", _("Worked example")),
            ("warning", _("Warning")),
        ],
        default="note",
    )
    title = blocks.CharBlock(required=False)
    text = blocks.RichTextBlock()

    class Meta:
        icon = "help"
        label = _("Callout")
        template = "courses/blocks/callout.html"


class ResourceBlock(blocks.StructBlock):
    document = DocumentChooserBlock()
    label = blocks.CharBlock(required=False, help_text=_("Defaults to the title."))

    class Meta:
        icon = "doc-full"
        label = _("Downloadable resource")
        template = "courses/blocks/resource.html"


class SafeEmbedBlock(EmbedBlock):
    """An embed that degrades to a plain link when the provider cannot be reached."""

    def render_basic(self, value, context=None):
        try:
            html = super().render_basic(value, context)
        except Exception:  # noqa: BLE001 - any provider failure becomes a link
            html = ""
        if html:
            return html
        url = getattr(value, "url", None) or ""
        return format_html('<p class="embed-link"><a href="{0}">{0}</a></p>', url)


class ChoiceBlock(blocks.StructBlock):
    text = blocks.CharBlock(label=_("Choice"))
    correct = blocks.BooleanBlock(required=False, label=_("Correct"))


class ChoiceQuestionBlock(blocks.StructBlock):
    prompt = blocks.TextBlock(label=_("Question"))
    choices = blocks.ListBlock(ChoiceBlock(), min_num=2)
    explanation = blocks.TextBlock(required=False)

    many = False

    def clean(self, value):
        value = super().clean(value)
        correct = sum(1 for choice in value["choices"] if choice["correct"])
        if self.many and correct < 1:
            raise blocks.StructBlockValidationError(
                block_errors={"choices": _("Mark at least one choice correct.")}
            )
        if not self.many and correct != 1:
            raise blocks.StructBlockValidationError(
                block_errors={"choices": _("Mark exactly one choice correct.")}
            )
        return value


class SingleChoiceBlock(ChoiceQuestionBlock):
    class Meta:
        icon = "radio-full"
        label = _("Single choice")


class MultipleChoiceBlock(ChoiceQuestionBlock):
    many = True

    class Meta:
        icon = "tick"
        label = _("Multiple choice")


class NumericQuestionBlock(blocks.StructBlock):
    prompt = blocks.TextBlock(label=_("Question"))
    answer = blocks.DecimalBlock(decimal_places=6, max_digits=20)
    tolerance = blocks.DecimalBlock(
        decimal_places=6,
        max_digits=20,
        min_value=0,
        default=0,
        help_text=_("Accepted absolute difference from the answer."),
    )
    unit = blocks.CharBlock(required=False, max_length=20)
    explanation = blocks.TextBlock(required=False)

    class Meta:
        icon = "order"
        label = _("Numeric answer")


class QuizBlock(blocks.StructBlock):
    title = blocks.CharBlock()
    pass_mark = blocks.IntegerBlock(
        min_value=0,
        max_value=100,
        default=75,
        help_text=_("Percentage of questions to answer correctly to pass."),
    )
    questions = blocks.StreamBlock(
        [
            ("single", SingleChoiceBlock()),
            ("multiple", MultipleChoiceBlock()),
            ("numeric", NumericQuestionBlock()),
        ],
        min_num=1,
    )

    class Meta:
        icon = "form"
        label = _("Quiz")


def _lab_choices() -> list[tuple[str, str]]:
    """Every lab by slug, read when the editor form is built (not at import)."""
    from labs.models import Lab

    return [
        (lab.slug, f"{lab.title} ({lab.get_status_display()})")
        for lab in Lab.objects.order_by("slug")
    ]


class LabChoiceBlock(blocks.ChoiceBlock):
    """A lab's slug, chosen in the editor among every lab. Read back from the
    database as the slug it is: Wagtail's ChoiceBlock lists the choices (a query
    for every lab) on each page view to turn the stored string into itself."""

    def to_python(self, value):
        return value


# Migrations record it as the ChoiceBlock it was: the stored data is the same.
DECONSTRUCT_ALIASES = {LabChoiceBlock: "wagtail.blocks.ChoiceBlock"}


class LabBlock(blocks.StructBlock):
    """A hands-on lab: "Open lab" for enrolled trainees, with their lab's state."""

    lab = LabChoiceBlock(choices=_lab_choices, help_text=_("The lab to open."))
    title = blocks.CharBlock(required=False)

    class Meta:
        icon = "code"
        label = _("Lab")
        template = "courses/blocks/lab.html"

    def get_context(self, value, parent_context=None):
        from labs.models import Lab, LabSession

        context = super().get_context(value, parent_context)
        # The lesson's published labs, when the page has read them already.
        labs = (parent_context or {}).get("published_labs") or {}
        if value["lab"] in labs:
            lab = labs[value["lab"]]
        else:
            lab = Lab.objects.filter(
                slug=value["lab"], status=Lab.Status.PUBLISHED
            ).first()
        request = parent_context.get("request") if parent_context else None
        user = getattr(request, "user", None)
        session = None
        if lab is not None and user is not None and user.is_authenticated:
            session = LabSession.objects.filter(user=user, lab=lab).first()
        context.update({"lab": lab, "lab_session": session})
        return context


class LessonStreamBlock(blocks.StreamBlock):
    heading = blocks.CharBlock(
        form_classname="title", icon="title", template="courses/blocks/heading.html"
    )
    text = blocks.RichTextBlock(icon="pilcrow")
    image = ImageBlock()
    embed = SafeEmbedBlock()
    code = CodeBlock()
    callout = CalloutBlock()
    table = TableBlock()
    resource = ResourceBlock()
    quiz = QuizBlock()
    lab = LabBlock()
