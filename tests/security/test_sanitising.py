"""Text that others wrote reaches pages only as text: a trainee's notebook and
name on the instructor's grading pages and in feedback, an instructor's comment,
curriculum Markdown, Wagtail rich text, a forged credential pasted for checking."""

import base64
import json

from django.test import Client
from wagtail.models import Locale

from courses.content_import import curriculum_import
from courses.models import LessonPage
from tests.courses.test_import import _course, _programme, _write
from tests.security.hostile import (  # noqa: F401 - fixtures used by name
    IMG,
    SCRIPT,
    Markup,
    certificate,
    hostile_notebook,
    hostile_submission,
    hostile_trainee,
    lab,
)

ESCAPED_SCRIPT = "&lt;script&gt;window.__pwned=1&lt;/script&gt;"


def _no_markup_from(html: str) -> None:
    """Neither hostile snippet exists as markup; no script runs from the page's
    own text (all of the page's scripts are files or JSON data)."""
    assert SCRIPT not in html and IMG not in html
    markup = Markup(html)
    assert markup.handlers == []
    assert markup.javascript_urls == []
    assert all(s.get("src") or s.get("type") for s in markup.scripts)


def test_manual_grading_keeps_a_hostile_comment_as_text_for_both_sides(
    client,
    instructor,
    hostile_submission,  # noqa: F811 - the fixture imported above
):
    """The instructor grades the manual cell of a hostile notebook with a comment
    that is markup: the grading page shows the trainee's name, error and the
    comment as text, before and after saving, and so does the trainee's feedback
    (page and live part)."""
    cell = hostile_submission.cells.get(kind="manual")
    page = f"/en/grading/gradebook/submissions/{hostile_submission.pk}/"
    client.force_login(instructor)
    before = client.get(page).content.decode()
    _no_markup_from(before)
    assert ESCAPED_SCRIPT in before

    form = {
        f"cell-{cell.pk}-grade_id": cell.grade_id,
        f"cell-{cell.pk}-comment": f"Read this {IMG}",
    }
    refused = client.post(page, {**form, f"cell-{cell.pk}-points": "7"})  # > max
    assert refused.status_code == 400
    _no_markup_from(refused.content.decode())
    assert "Read this &lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in (
        refused.content.decode()
    )
    saved = client.post(page, {**form, f"cell-{cell.pk}-points": "1"}, follow=True)
    assert saved.status_code == 200
    _no_markup_from(saved.content.decode())

    trainee = Client()
    trainee.force_login(hostile_submission.user)
    for address in (
        f"/en/grading/submissions/{hostile_submission.pk}/",
        f"/en/grading/submissions/{hostile_submission.pk}/part/",
    ):
        html = trainee.get(address).content.decode()
        _no_markup_from(html)
        assert "Read this &lt;img src=x onerror=" in html
        assert "ValueError: &lt;img src=x onerror=" in html


def test_the_submitted_notebook_is_only_ever_a_download(
    client,
    instructor,
    hostile_submission,  # noqa: F811 - the fixture imported above
):
    """The notebook, markup and all, is never shown inline: the instructor gets it
    as an attachment of a notebook type the browser does not sniff into HTML."""
    client.force_login(instructor)
    response = client.get(
        f"/en/grading/gradebook/submissions/{hostile_submission.pk}/notebook/"
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/x-ipynb+json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == hostile_notebook()


def test_curriculum_markdown_cannot_carry_html(db, client, tmp_path):
    """Raw HTML in a curriculum file's Markdown (text and callout blocks) is
    imported as text, and a javascript: link stays plain text: the lesson shows
    the markup escaped and runs none of it."""
    course = _course()
    lesson = course["lessons"][0]
    lesson["body"][:0] = [
        {"type": "text", "text": f"Intro {SCRIPT}\n\n{IMG}\n\n[x](javascript:evil())"},
        {"type": "callout", "title": "Note", "text": f"Careful {SCRIPT}"},
    ]
    curriculum_import(_write(tmp_path, _programme(), course))
    page = LessonPage.objects.get(slug="only-lesson", locale=Locale.get_default())

    html = client.get(page.url).content.decode()

    _no_markup_from(html)
    assert f"Intro {ESCAPED_SCRIPT}" in html
    assert f"Careful {ESCAPED_SCRIPT}" in html
    assert "&lt;img src=x onerror=" in html
    assert 'href="javascript:' not in html


def test_a_lesson_table_shows_markup_in_its_cells_as_text(db, client):
    """The lesson body's table block renders each cell as text."""
    page = LessonPage.objects.filter(locale=Locale.get_default()).live().first()
    page.body = [
        (
            "table",
            {
                "data": [["Route", "Note"], ["A", f"{SCRIPT} {IMG}"]],
                "first_row_is_table_header": True,
                "first_col_is_header": False,
            },
        )
    ]
    page.save_revision().publish()

    response = client.get(page.url)

    html = response.content.decode()
    assert response.status_code == 200
    _no_markup_from(html)
    assert f"{ESCAPED_SCRIPT} &lt;img src=x onerror=" in html
    assert "<table>" in html


def test_wagtail_rich_text_from_the_editor_is_escaped(db):
    """What an author types into Wagtail's rich text editor (Draftail) is stored
    escaped, and a javascript: link loses its address: the lesson's text block
    renders it as text."""
    from wagtail.admin.rich_text.converters.contentstate import ContentstateConverter
    from wagtail.rich_text import expand_db_html, features

    contentstate = {
        "blocks": [
            {
                "key": "a1b2c",
                "type": "unstyled",
                "text": f"{SCRIPT} {IMG} click",
                "depth": 0,
                "inlineStyleRanges": [],
                "entityRanges": [
                    {"offset": len(SCRIPT) + len(IMG) + 2, "length": 5, "key": 0}
                ],
                "data": {},
            }
        ],
        "entityMap": {
            "0": {
                "type": "LINK",
                "mutability": "MUTABLE",
                "data": {"url": "javascript:window.__pwned=1"},
            }
        },
    }
    converter = ContentstateConverter(features=features.get_default_features())

    stored = converter.to_database_format(json.dumps(contentstate))
    html = expand_db_html(stored)

    _no_markup_from(html)
    assert ESCAPED_SCRIPT in html
    assert "javascript:" not in html


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_credentials_pasted_for_checking_are_shown_as_text(
    client,
    certificate,  # noqa: F811 - the fixture imported above
):
    """An employer pastes a credential. A genuine one whose results and evidence
    hold markup (they come from lab and quiz names) is summarised as text; a
    forgery of it whose header names markup as its algorithm is refused with that
    name quoted as text."""
    genuine = client.post("/verify", {"reference": certificate.jwt})
    html = genuine.content.decode()
    assert genuine.status_code == 200
    _no_markup_from(html)
    assert f"Quizzes {ESCAPED_SCRIPT}" in html

    header, payload, signature = certificate.jwt.split(".")
    forged_header = {
        **json.loads(base64.urlsafe_b64decode(header + "==")),
        "alg": SCRIPT,
    }
    forged = f"{_b64(forged_header)}.{payload}.{signature}"
    refused = client.post("/verify", {"reference": forged})
    html = refused.content.decode()
    assert refused.status_code == 200
    _no_markup_from(html)
    assert f"Signature algorithm &quot;{ESCAPED_SCRIPT}&quot; is refused" in html
