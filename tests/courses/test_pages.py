"""The seeded Wagtail pages render, and the quiz form gives no answer away."""

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.template.defaultfilters import linebreaksbr
from django.utils.html import escape
from wagtail.models import Locale, Page

from courses import services
from courses.models import CataloguePage, CoursePage, LessonPage, ProgrammePage
from tests.courses.helpers import (
    correct_answers,
    curriculum,
    curriculum_lessons,
    curriculum_quizzes,
    numeric_questions,
    quiz_lessons,
)

COURSE_PAGES = (CataloguePage, ProgrammePage, CoursePage, LessonPage)


def _seeded_pages() -> list[Page]:
    return [
        page
        for page in Page.objects.live().specific().order_by("path")
        if isinstance(page, COURSE_PAGES)
    ]


def _render_failures(client) -> list[str]:
    failures = []
    for page in _seeded_pages():
        response = client.get(page.url)
        if (
            response.status_code != 200
            or escape(page.title) not in response.content.decode()
        ):
            failures.append(f"{page.url}: {response.status_code}")
    return failures


def test_every_seeded_page_exists_in_both_locales(db):
    """In each language the import made one catalogue and one page per programme,
    course and lesson of the YAML."""
    pages = _seeded_pages()
    programmes = curriculum().values()
    languages = len(settings.LANGUAGES)

    counts = {
        model.__name__: sum(1 for p in pages if type(p) is model)
        for model in COURSE_PAGES
    }
    assert counts == {
        "CataloguePage": languages,
        "ProgrammePage": languages * len(programmes),
        "CoursePage": languages * sum(len(p["courses"]) for p in programmes),
        "LessonPage": languages * sum(len(curriculum_lessons(p)) for p in programmes),
    }
    assert {p.url.split("/")[1] for p in pages} == {"en", "zh-hans"}


def test_every_seeded_page_renders_for_anonymous(client, db):
    """Every catalogue, programme, course and lesson page renders for a visitor."""
    assert _render_failures(client) == []


def test_every_seeded_page_renders_for_an_enrolled_trainee(client, enrolled_everywhere):
    """Every page renders for a trainee enrolled in every programme, including the
    quiz forms."""
    client.force_login(enrolled_everywhere)

    assert _render_failures(client) == []


def test_lesson_shows_enrol_prompt_to_visitors_and_quiz_form_to_trainees(
    client, enrolled, quiz
):
    """Visitors see disabled quiz inputs; an enrolled trainee gets the quiz form."""
    lesson, block = quiz
    anonymous = client.get(lesson.url).content.decode()
    client.force_login(enrolled)
    trainee = client.get(lesson.url).content.decode()

    assert "Register to enrol" in anonymous
    assert f"/quizzes/{block.id}/" not in anonymous
    assert f"/quizzes/{block.id}/" in trainee


# --- The quiz never leaks answers -----------------------------------------------------


class _Inputs(HTMLParser):
    """Collects <input> attributes and every attribute name and value of a fragment."""

    def __init__(self):
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.attributes.extend((name, value or "") for name, value in attrs)
        if tag == "input":
            self.inputs.append(dict(attrs))


def _quiz_section(html: str, quiz_id: str) -> str:
    match = re.search(
        rf'<section class="quiz card" id="quiz-{re.escape(quiz_id)}".*?</section>',
        html,
        re.S,
    )
    assert match is not None, f"quiz {quiz_id} not rendered"
    return match.group(0)


def _number_forms(value: str) -> set[str]:
    """The ways a lesson might print ``value``: 11815, 11,815, 11815.00, 11,815.00."""
    number = Decimal(value).normalize()
    forms = {f"{number:f}", f"{number:,f}"}
    if number == number.quantize(Decimal("0.01")):
        forms |= {f"{number:.2f}", f"{number:,.2f}"}
    return forms


def _contains_number(text: str, form: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d]|[.,]\d)", text) is not None


def _quiz_pages(client, user) -> list[tuple[str, str, object]]:
    """(locale, rendered quiz section, block) for every quiz of every programme in
    both languages, as ``user`` (enrolled in them all) sees it."""
    client.force_login(user)
    found = []
    for locale in Locale.objects.all():
        for lesson, block in quiz_lessons(locale):
            html = client.get(lesson.url).content.decode()
            found.append((locale.language_code, _quiz_section(html, block.id), block))
    quizzes = sum(len(curriculum_quizzes(p)) for p in curriculum().values())
    assert len(found) == quizzes * len(settings.LANGUAGES)
    return found


# Numbers the quiz markup prints for its own reasons, whatever the answers are.
_MARKUP_NUMBERS = (
    re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"'),
    re.compile(r'<form method="post" action="[^"]*"'),
    re.compile(r'<p class="muted">[^<]*</p>'),  # the pass mark
    re.compile(r'<span class="question-number">\d+\.</span>'),
    re.compile(r'(type="(?:radio|checkbox)" name="q-") value="\d+"'),
)


def _without_markup_numbers(section: str, block) -> str:
    """``section`` without the digits that cannot give an answer away but may match
    one by chance: block and question ids (hex), the CSRF token (random), the form's
    URL, the pass mark, question numbers and choice indices (checked elsewhere)."""
    for question in block.value["questions"]:
        section = section.replace(question.id, "")
    section = section.replace(block.id, "")
    for pattern in _MARKUP_NUMBERS:
        section = pattern.sub(r"\1" if pattern.groups else "", section)
    return section


def test_quiz_does_not_show_numeric_answers(client, enrolled_everywhere):
    """No numeric answer appears, in any usual formatting, in its quiz: not in an
    attribute and not in the text of any question."""
    for language, section, block in _quiz_pages(client, enrolled_everywhere):
        questions = numeric_questions(block)
        assert questions
        text = _without_markup_numbers(section, block)
        for question in questions:
            for form in _number_forms(question.value["answer"]):
                assert not _contains_number(text, form), (language, form, block.id)


def test_quiz_choice_inputs_differ_only_by_their_index(client, enrolled_everywhere):
    """A question's choice inputs are identical apart from value 0, 1, 2, …"""
    for language, section, block in _quiz_pages(client, enrolled_everywhere):
        parser = _Inputs()
        parser.feed(section)
        for question in block.value["questions"]:
            inputs = [i for i in parser.inputs if i.get("name") == f"q-{question.id}"]
            if question.block_type == "numeric":
                assert len(inputs) == 1
                assert inputs[0].get("value") in (None, "")
                continue
            assert len(inputs) == len(question.value["choices"]), language
            assert [i["value"] for i in inputs] == [str(n) for n in range(len(inputs))]
            stripped = [{k: v for k, v in i.items() if k != "value"} for i in inputs]
            assert all(attrs == stripped[0] for attrs in stripped), (language, inputs)
            assert "checked" not in stripped[0]


def _authored_text(block) -> list[str]:
    """The prompts and choice texts as the template prints them."""
    texts = []
    for question in block.value["questions"]:
        texts.append(linebreaksbr(question.value["prompt"], autoescape=True))
        texts.extend(escape(c["text"]) for c in question.value.get("choices", []))
    return sorted(texts, key=len, reverse=True)


def test_quiz_form_has_no_marking_before_an_attempt(client, enrolled_everywhere):
    """Before any attempt the form has no verdicts, explanations or answer markers."""
    for language, section, block in _quiz_pages(client, enrolled_everywhere):
        markup = section
        for text in _authored_text(block):
            markup = markup.replace(text, "")
        lowered = markup.lower()
        for word in ("correct", "incorrect", "solution", "explanation", "正确"):
            assert word not in lowered, (language, word)
        assert 'class="feedback' not in markup
        parser = _Inputs()
        parser.feed(section)
        for name, value in parser.attributes:
            assert not name.startswith("data-"), (language, name)
            assert "correct" not in value.lower(), (language, name, value)
        for question in block.value["questions"]:
            explanation = question.value["explanation"]
            if explanation:
                assert escape(explanation) not in section, language


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_quiz_shows_verdicts_only_after_an_attempt(
    client, enrolled, programme, language
):
    """After an attempt the same form shows per-question verdicts and explanations,
    which proves the checks above look at the right place."""
    locale = Locale.objects.get(language_code=language)
    lesson, block = quiz_lessons(locale, programme=programme)[0]
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )
    client.force_login(enrolled)

    section = _quiz_section(client.get(lesson.url).content.decode(), block.id)

    assert section.count('class="feedback pass"') == len(block.value["questions"])
