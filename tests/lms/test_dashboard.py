"""The trainee's dashboard: enrolled programmes, progress, next lesson, results."""

import re

import pytest
from wagtail.models import Locale

from courses.models import LessonPage
from courses.services import (
    enrolment_create,
    enrolment_leave,
    lesson_complete,
    quiz_attempt_submit,
)

DASHBOARD_URL = "/en/dashboard/"
TITLE_EN = "Cross-border E-commerce and Silk Road Trade"
TITLE_ZH = "跨境电子商务与“丝路电商”贸易"
PROGRESS = re.compile(r'<progress max="100" value="(\d+)"')


def _lessons(programme) -> list[LessonPage]:
    return list(LessonPage.objects.live().descendant_of(programme).order_by("path"))


def _quiz(programme):
    """The first lesson with a quiz block, and that block."""
    for lesson in _lessons(programme):
        for block in lesson.body:
            if block.block_type == "quiz":
                return lesson, block
    pytest.fail("the curriculum has no quiz")


def _right_answers(block) -> dict[str, list[str]]:
    answers = {}
    for question in block.value["questions"]:
        if question.block_type == "numeric":
            answers[question.id] = [str(question.value["answer"])]
        else:
            answers[question.id] = [
                str(index)
                for index, choice in enumerate(question.value["choices"])
                if choice["correct"]
            ]
    return answers


def test_new_trainee_sees_the_empty_state(client, trainee):
    """Without enrolments the dashboard invites the trainee to the catalogue."""
    client.force_login(trainee)
    response = client.get(DASHBOARD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "You are not enrolled in any programme yet." in html
    assert 'href="/en/"' in html
    assert "No quiz results yet." in html
    assert "<progress" not in html


def test_enrolled_programme_shows_progress_and_the_next_lesson(
    client, trainee, programme
):
    """After one completed lesson: the programme, progress > 0, Continue → lesson 2."""
    lessons = _lessons(programme)
    enrolment_create(user=trainee, programme=programme)
    lesson_complete(user=trainee, lesson=lessons[0])
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert "You are not enrolled" not in html
    assert TITLE_EN in html
    assert f'href="{programme.url}"' in html
    # The first bar is the programme's: 1 of 10 lessons.
    values = [int(v) for v in PROGRESS.findall(html)]
    assert values[0] == round(100 / len(lessons))
    assert values[0] > 0
    assert f"1 of {len(lessons)} lessons complete" in html
    continue_link = re.search(r'<a class="button" href="([^"]+)">Continue:', html)
    assert continue_link
    assert continue_link.group(1) == lessons[1].url
    assert lessons[1].title in html


def test_enrolled_without_progress_continues_at_the_first_lesson(
    client, trainee, programme
):
    """A fresh enrolment shows 0% and points at the first lesson."""
    lessons = _lessons(programme)
    enrolment_create(user=trainee, programme=programme)
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert [int(v) for v in PROGRESS.findall(html)][0] == 0
    assert f'href="{lessons[0].url}">Continue:' in html


def test_all_lessons_done_says_so(client, trainee, programme):
    """With every lesson complete there is no Continue link but a success note."""
    enrolment_create(user=trainee, programme=programme)
    for lesson in _lessons(programme):
        lesson_complete(user=trainee, lesson=lesson)
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert "All lessons complete." in html
    assert "Continue:" not in html
    assert [int(v) for v in PROGRESS.findall(html)][0] == 100


def test_recent_quiz_results_are_listed(client, trainee, programme):
    """A submitted quiz appears under Recent results with score and verdict."""
    lesson, block = _quiz(programme)
    enrolment_create(user=trainee, programme=programme)
    attempt = quiz_attempt_submit(
        user=trainee, lesson=lesson, quiz_id=block.id, answers=_right_answers(block)
    )
    assert attempt.passed
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert "No quiz results yet." not in html
    assert block.value["title"] in html
    assert f"{attempt.max_score}/{attempt.max_score} (100%)" in html
    assert "Passed" in html
    assert f'href="{lesson.url}"' in html


def test_a_failed_quiz_is_listed_as_not_passed(client, trainee, programme):
    """An empty attempt scores 0 and shows as not passed."""
    lesson, block = _quiz(programme)
    enrolment_create(user=trainee, programme=programme)
    attempt = quiz_attempt_submit(
        user=trainee, lesson=lesson, quiz_id=block.id, answers={}
    )
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert f"0/{attempt.max_score} (0%)" in html
    assert "Not passed" in html


def test_left_programme_is_not_shown(client, trainee, programme):
    """Leaving a programme removes it from the dashboard."""
    enrolment_create(user=trainee, programme=programme)
    enrolment_leave(user=trainee, programme=programme)
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert "You are not enrolled in any programme yet." in html
    assert TITLE_EN not in html


def test_other_trainees_progress_is_not_shown(
    client, trainee, other_trainee, programme
):
    """The dashboard shows only the signed-in trainee's own records."""
    lesson, block = _quiz(programme)
    enrolment_create(user=other_trainee, programme=programme)
    quiz_attempt_submit(user=other_trainee, lesson=lesson, quiz_id=block.id, answers={})
    client.force_login(trainee)
    html = client.get(DASHBOARD_URL).content.decode()
    assert "You are not enrolled in any programme yet." in html
    assert "No quiz results yet." in html


def test_chinese_dashboard_uses_the_chinese_titles(client, trainee, programme):
    """Under /zh-hans/ the programme and next lesson come from the Chinese tree."""
    lessons = _lessons(programme)
    enrolment_create(user=trainee, programme=programme)
    lesson_complete(user=trainee, lesson=lessons[0])
    client.force_login(trainee)
    html = client.get("/zh-hans/dashboard/").content.decode()
    assert TITLE_ZH in html
    assert TITLE_EN not in html
    chinese_next = lessons[1].get_translation(
        Locale.objects.get(language_code="zh-hans")
    )
    assert chinese_next.title != lessons[1].title
    assert chinese_next.title in html
    assert f'href="{chinese_next.url}"' in html
    assert '<html lang="zh-Hans">' in html
