"""Fixtures and helpers of the security tests: the site's representative pages,
with hostile text wherever a trainee (or an uploaded file) can put text: their name,
their notebook's errors, a comment. Imported by the modules that use them."""

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core.files.base import ContentFile
from wagtail.models import Locale

from courses.models import LessonPage
from courses.services import enrolment_create
from grading.feedback import error_summary
from grading.models import CellGrade, Submission
from labs.models import Lab
from tests.factories import UserFactory

# Each would set window.__pwned if the browser ran it.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
LESSON_SLUG = "duties-vat-and-landed-cost"  # a lesson with a lab block and a quiz


class Markup(HTMLParser):
    """What a page's HTML asks the browser to run or style inline."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str | None]] = []  # attributes of each <script>
        self.script_text: list[str] = []
        self.handlers: list[str] = []  # tag.onsomething
        self.style_attributes: list[str] = []
        self.style_elements = 0
        self.javascript_urls: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values)
        if tag == "style":
            self.style_elements += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag}.{name}")
            if name == "style":
                self.style_attributes.append(f"{tag}: {value}")
            if name in ("href", "src", "action", "formaction") and (
                (value or "").strip().lower().startswith("javascript:")
            ):
                self.javascript_urls.append(f"{tag}.{name}={value}")

    def handle_data(self, data):
        if self.lasttag == "script" and data.strip():
            self.script_text.append(data)


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def lab(db) -> Lab:
    """The lab of the seeded lesson, published (no release files: pages only read
    the row)."""
    return Lab.objects.create(
        slug="landed-cost",
        title="Landed cost",
        notebook="landed-cost.ipynb",
        points=Decimal("5"),
        status=Lab.Status.PUBLISHED,
    )


@pytest.fixture
def lesson(db) -> LessonPage:
    return LessonPage.objects.get(slug=LESSON_SLUG, locale=Locale.get_default())


@pytest.fixture
def hostile_trainee(db, programme):
    """An enrolled trainee who chose markup for a name."""
    user = UserFactory(role="trainee", display_name=f"Eve {IMG}{SCRIPT}")
    enrolment_create(user=user, programme=programme)
    return user


def hostile_notebook() -> bytes:
    """A notebook whose cells and outputs are markup that would run if shown."""
    import json

    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {"nbgrader": {"grade_id": "answer", "solution": True}},
        "source": f"raise ValueError({IMG!r})\n# {SCRIPT}",
        "outputs": [
            {
                "output_type": "display_data",
                "data": {"text/html": SCRIPT + IMG, "text/plain": SCRIPT},
                "metadata": {},
            },
            {
                "output_type": "error",
                "ename": "ValueError",
                "evalue": IMG + SCRIPT,
                "traceback": [f"ValueError: {IMG}{SCRIPT}"],
            },
        ],
    }
    markdown = {"cell_type": "markdown", "metadata": {}, "source": SCRIPT + IMG}
    notebook = {
        "cells": [markdown, cell],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook).encode()


@pytest.fixture
def hostile_submission(hostile_trainee, lab, instructor) -> Submission:
    """A graded submission of ``hostile_notebook()`` as grading leaves it: the
    trainee's error text (ename: evalue, as grading stores it) on the autograded
    cell, a manual cell still to grade, and the notebook file itself."""
    submission = Submission(
        user=hostile_trainee,
        lab=lab,
        attempt=1,
        sha256="0" * 64,
        size=1,
        source=Submission.Source.UPLOAD,
        lab_version=1,
        status=Submission.Status.GRADED,
        score=Decimal("0"),
        max_score=Decimal("3"),
        passed=False,
        needs_manual_grade=True,
        notes=[
            {"code": "cells_restored", "params": {"cells": f"answer {SCRIPT}"}},
            {"code": "manual_pending", "params": {}},
        ],
    )
    submission.notebook.save("hostile.ipynb", ContentFile(hostile_notebook()))
    CellGrade.objects.create(
        submission=submission,
        grade_id="answer_tests",
        position=1,
        kind=CellGrade.Kind.AUTO,
        points=Decimal("0"),
        max_points=Decimal("2"),
        feedback={
            "outcome": "failed",
            "error": error_summary("ValueError", IMG + SCRIPT, hidden_lines=[]),
        },
    )
    CellGrade.objects.create(
        submission=submission,
        grade_id="explain",
        position=2,
        kind=CellGrade.Kind.MANUAL,
        points=None,
        max_points=Decimal("1"),
        feedback={"outcome": "pending", "error": ""},
        comment=f"Earlier comment {SCRIPT}",
    )
    return submission


@pytest.fixture
def certificate(settings, tmp_path, hostile_trainee, programme):
    """An issued certificate of the hostile trainee, signed with a key of its own."""
    from grading.credentials import keys, services

    settings.CREDENTIALS_KEY_DIR = tmp_path / "keys"
    settings.CREDENTIALS_KEY_FILE = settings.CREDENTIALS_KEY = ""
    keys.keys_forget()
    yield services.certificate_issue(
        user=hostile_trainee,
        programme=programme,
        results=[{"key": "quizzes", "name": f"Quizzes {SCRIPT}", "value": 90}],
        evidence=[{"name": f"{IMG}.ipynb", "sha256": "ab" * 32}],
        valid_for=timedelta(days=365),
    )
    keys.keys_forget()
