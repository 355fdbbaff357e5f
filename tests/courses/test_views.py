"""courses.views: trainee actions, instructor cohorts (pages and CSV) and search."""

import csv
import io
import re

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import translation
from wagtail.models import Page

from courses import services
from courses.models import (
    CoursePage,
    Enrolment,
    LessonCompletion,
    LessonPage,
    QuizAttempt,
)
from lms.accounts.models import User
from tests.courses.helpers import correct_answers
from tests.factories import UserFactory

TRAINEE_ACTIONS = ["enrol", "leave", "complete", "quiz_submit"]
COHORT_VIEWS = ["cohort_index", "cohort_programme", "cohort_course", "cohort_csv"]


def _url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(f"courses:{name}", args=args)


def _action_url(action: str, programme, quiz) -> str:
    lesson, block = quiz
    return {
        "enrol": lambda: _url("enrol", programme.pk),
        "leave": lambda: _url("leave", programme.pk),
        "complete": lambda: _url("complete", lesson.pk),
        "quiz_submit": lambda: _url("quiz_submit", lesson.pk, block.id),
    }[action]()


def _cohort_url(name: str, programme) -> str:
    if name == "cohort_index":
        return _url(name)
    if name == "cohort_course":
        return _url(name, CoursePage.objects.child_of(programme).first().pk)
    return _url(name, programme.pk)


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and "/accounts/login/" in response["Location"]


def _quiz_post(block) -> dict[str, list[str]]:
    return {f"q-{key}": value for key, value in correct_answers(block).items()}


# --- Trainee actions ------------------------------------------------------------------


@pytest.mark.parametrize("action", TRAINEE_ACTIONS)
def test_trainee_actions_refuse_get(client, trainee, programme, quiz, action):
    """Trainee actions change state, so they answer GET with 405."""
    client.force_login(trainee)

    response = client.get(_action_url(action, programme, quiz))

    assert response.status_code == 405


@pytest.mark.parametrize("action", TRAINEE_ACTIONS)
def test_trainee_actions_send_anonymous_to_login(client, programme, quiz, action):
    """An anonymous POST to a trainee action redirects to the login page."""
    response = client.post(_action_url(action, programme, quiz))

    assert _is_login_redirect(response)
    assert not Enrolment.objects.exists()


@pytest.mark.parametrize("role", ["employer", "instructor"])
@pytest.mark.parametrize("action", TRAINEE_ACTIONS)
def test_trainee_actions_forbid_other_roles(
    client, request, programme, quiz, action, role
):
    """Employers and instructors get 403 from trainee-only actions; nothing changes."""
    user = request.getfixturevalue(role)
    client.force_login(user)

    response = client.post(_action_url(action, programme, quiz))

    assert response.status_code == 403
    assert not Enrolment.objects.filter(user=user).exists()
    assert not LessonCompletion.objects.filter(user=user).exists()


def test_trainee_enrols_and_leaves(client, trainee, programme):
    """A trainee can enrol and leave by POST; both redirect to the programme."""
    client.force_login(trainee)

    response = client.post(_action_url("enrol", programme, (None, None)))
    assert response.status_code == 302
    assert response["Location"] == programme.url
    assert services.enrolment_active(user=trainee, programme=programme) is not None

    response = client.post(_action_url("leave", programme, (None, None)))
    assert response.status_code == 302
    assert services.enrolment_active(user=trainee, programme=programme) is None


def test_trainee_completes_and_continues_to_next(client, enrolled, lessons):
    """Completing a lesson records it and follows a local ``next`` URL only."""
    client.force_login(enrolled)
    url = _url("complete", lessons[0].pk)

    response = client.post(url, {"next": lessons[1].url})
    assert response.status_code == 302
    assert response["Location"] == lessons[1].url
    assert LessonCompletion.objects.filter(user=enrolled, lesson=lessons[0]).exists()

    response = client.post(url, {"next": "//evil.example.org/"})
    assert response["Location"] == lessons[0].url

    client.post(url, {"undo": "1"})
    assert not LessonCompletion.objects.filter(user=enrolled).exists()


def test_complete_when_not_enrolled_shows_an_error(client, trainee, lessons):
    """A trainee who is not enrolled is sent back to the lesson with a message."""
    client.force_login(trainee)

    response = client.post(_url("complete", lessons[0].pk), follow=True)

    assert response.status_code == 200
    assert "Enrol in the programme" in response.content.decode()
    assert not LessonCompletion.objects.exists()


def test_trainee_submits_a_quiz(client, enrolled, quiz):
    """A quiz POST is graded, recorded and redirects back to the quiz."""
    lesson, block = quiz
    client.force_login(enrolled)

    response = client.post(_url("quiz_submit", lesson.pk, block.id), _quiz_post(block))

    assert response.status_code == 302
    assert response["Location"] == f"{lesson.url}#quiz-{block.id}"
    attempt = QuizAttempt.objects.get(user=enrolled)
    assert attempt.passed is True
    page = client.get(lesson.url).content.decode()
    assert "Your last attempt" in page


def test_invalid_quiz_answers_show_a_message_and_record_nothing(client, enrolled, quiz):
    """Non-numeric input to a numeric question is refused with a readable message."""
    lesson, block = quiz
    numeric = next(q for q in block.value["questions"] if q.block_type == "numeric")
    client.force_login(enrolled)

    response = client.post(
        _url("quiz_submit", lesson.pk, block.id),
        {**_quiz_post(block), f"q-{numeric.id}": "twelve"},
        follow=True,
    )

    assert response.status_code == 200
    assert "is not a number" in response.content.decode()
    assert not QuizAttempt.objects.exists()


# --- Instructor cohorts ---------------------------------------------------------------


@pytest.mark.parametrize("name", COHORT_VIEWS)
def test_cohort_views_send_anonymous_to_login(client, programme, name):
    """Cohort views redirect anonymous visitors to the login page."""
    assert _is_login_redirect(client.get(_cohort_url(name, programme)))


@pytest.mark.parametrize("role", ["trainee", "employer"])
@pytest.mark.parametrize("name", COHORT_VIEWS)
def test_cohort_views_forbid_trainees_and_employers(
    client, request, programme, name, role
):
    """Only instructors see cohorts: trainees and employers get 403."""
    client.force_login(request.getfixturevalue(role))

    assert client.get(_cohort_url(name, programme)).status_code == 403


@pytest.mark.parametrize("name", COHORT_VIEWS)
def test_cohort_views_open_to_instructors(
    client, instructor, enrolled, programme, name
):
    """Instructors get every cohort view."""
    client.force_login(instructor)

    response = client.get(_cohort_url(name, programme))

    assert response.status_code == 200


def test_cohort_index_counts_active_enrolments(
    client, instructor, enrolled, other_trainee, programme
):
    """The index lists the programme with its number of active trainees."""
    services.enrolment_create(user=other_trainee, programme=programme)
    services.enrolment_leave(user=other_trainee, programme=programme)
    client.force_login(instructor)

    html = client.get(_url("cohort_index")).content.decode()

    row = re.search(
        rf'href="{re.escape(_url("cohort_programme", programme.pk))}">.*?</tr>',
        html,
        re.S,
    )
    assert row is not None
    assert "<td>1</td>" in row.group(0)


def test_cohort_programme_from_chinese_page_id_shows_english_cohort(
    client, instructor, enrolled, programme, zh_locale
):
    """Asking for the zh-hans programme's cohort shows the same (English) cohort."""
    client.force_login(instructor)
    chinese = programme.get_translation(zh_locale)

    html = client.get(_url("cohort_programme", chinese.pk)).content.decode()

    assert enrolled.email in html


def _read_csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def test_cohort_csv_has_header_and_a_row_per_active_enrolment(
    client, instructor, enrolled, other_trainee, programme, lessons
):
    """The CSV streams a header and one row per active enrolment with progress."""
    leaver = UserFactory(role="trainee")
    services.enrolment_create(user=other_trainee, programme=programme)
    services.enrolment_create(user=leaver, programme=programme)
    services.enrolment_leave(user=leaver, programme=programme)
    for lesson in lessons[:3]:
        services.lesson_complete(user=enrolled, lesson=lesson)
    client.force_login(instructor)

    response = client.get(_url("cohort_csv", programme.pk))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = _read_csv(response)
    assert header[:5] == [
        "username",
        "display_name",
        "email",
        "enrolled_at",
        "programme_%",
    ]
    assert len(header) == 5 + 3 + 3
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_name) == {enrolled.username, other_trainee.username}
    mine = by_name[enrolled.username]
    assert mine["programme_%"] == "30"
    assert mine["lessons_done"] == "3"
    assert mine["lessons_total"] == "10"


def test_cohort_csv_streams_every_chunk_once(client, instructor, programme):
    """A cohort larger than one chunk (500) comes out whole, header once, no repeats."""
    users = User.objects.bulk_create(
        User(username=f"bulk{i:04d}", email=f"bulk{i:04d}@example.org")
        for i in range(501)
    )
    Enrolment.objects.bulk_create(
        Enrolment(user=user, programme=programme) for user in users
    )
    client.force_login(instructor)

    header, *rows = _read_csv(client.get(_url("cohort_csv", programme.pk)))

    assert header[0] == "username"
    assert [row[0] for row in rows] == sorted(user.username for user in users)


def _table_rows(html: str) -> int:
    return html.count('<th scope="row">')


@pytest.mark.parametrize("name", ["cohort_programme", "cohort_course"])
def test_cohort_tables_paginate_by_fifty(client, instructor, programme, name):
    """Cohort tables show 50 trainees a page; the rest are on the next page."""
    for user in UserFactory.create_batch(53, role="trainee"):
        services.enrolment_create(user=user, programme=programme)
    client.force_login(instructor)
    url = _cohort_url(name, programme)

    first = client.get(url).content.decode()
    second = client.get(url, {"page": 2}).content.decode()

    assert _table_rows(first) == 50
    assert _table_rows(second) == 3
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in second


# --- Search ---------------------------------------------------------------------------


def _result_links(html: str) -> list[str]:
    results = re.search(r'<ul class="results">(.*?)</ul>', html, re.S)
    return re.findall(r'<li><a href="([^"]+)"', results.group(1)) if results else []


def test_search_english_finds_english_pages(client, db):
    """An English query on /en/ finds English pages only."""
    response = client.get("/en/learn/search/", {"q": "Incoterms"})

    links = _result_links(response.content.decode())
    assert links
    assert all(link.startswith("/en/") for link in links)
    assert "/en/cross-border-ecommerce/incoterms-and-trade-terms/" in links


def test_search_chinese_finds_chinese_pages(client, db):
    """A Chinese word from zh-hans titles ("关税") finds zh-hans pages."""
    response = client.get("/zh-hans/learn/search/", {"q": "关税"})

    links = _result_links(response.content.decode())
    assert links
    assert all(link.startswith("/zh-hans/") for link in links)
    assert (
        "/zh-hans/cross-border-ecommerce/customs-duties-and-tax/"
        "duties-vat-and-landed-cost/" in links
    )


def test_search_empty_query_shows_no_results(client, db):
    """An empty query renders the form and no results or 'no results' notice."""
    response = client.get("/en/learn/search/", {"q": "   "})

    html = response.content.decode()
    assert response.status_code == 200
    assert _result_links(html) == []
    assert "No results" not in html
    assert len(response.context["results"].object_list) == 0


def test_search_results_paginate(client, programme):
    """Results come 20 a page, with a link to the next page that keeps the query."""
    course = CoursePage.objects.child_of(programme).first()
    for i in range(25):
        lesson = LessonPage(title=f"Quokkanomics {i}", slug=f"quokkanomics-{i}")
        course.add_child(instance=lesson)
        lesson.save_revision().publish()

    first = client.get("/en/learn/search/", {"q": "Quokkanomics"})
    second = client.get("/en/learn/search/", {"q": "Quokkanomics", "page": 2})

    assert len(_result_links(first.content.decode())) == 20
    assert len(_result_links(second.content.decode())) == 5
    assert "q=Quokkanomics&amp;page=2" in first.content.decode()
    assert set(_result_links(first.content.decode())).isdisjoint(
        _result_links(second.content.decode())
    )


def test_search_only_finds_live_pages(client, programme):
    """Unpublished pages are not found."""
    course = CoursePage.objects.child_of(programme).first()
    lesson = LessonPage(title="Wombatology draft", slug="wombatology", live=False)
    course.add_child(instance=lesson)
    lesson.save_revision()
    assert Page.objects.filter(slug="wombatology").exists()

    response = client.get("/en/learn/search/", {"q": "Wombatology"})

    assert _result_links(response.content.decode()) == []
