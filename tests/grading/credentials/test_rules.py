"""Certificate rules: what they ask for, what the trainee is shown as missing, and
the admin form's checks."""

import pytest
from wagtail.admin.panels import get_edit_handler
from wagtail.models import Locale

from courses.models import LessonPage, ProgrammePage
from grading.credentials.issuing import rule_check
from grading.credentials.rules import CertificateRule
from tests.factories import UserFactory
from tests.grading.credentials.rules_helpers import (
    course_complete,
    first_course,
    quiz_lesson,
    quizzes_pass,
    rule_make,
)


def _form(data):
    form_class = get_edit_handler(CertificateRule).get_form_class()
    return form_class(data=data, for_user=UserFactory(is_superuser=True))


def test_nothing_done_lists_every_requirement_as_missing(programme, trainee):
    """No lesson complete, no quiz attempted: each requirement says how far along."""
    course, lesson = first_course(programme), quiz_lesson(programme)
    rule_make(programme, courses=[course], lessons=[lesson], quiz_pass_mark=80)

    progress = rule_check(user=trainee, programme=programme)

    assert not progress.met
    kinds = [item.kind for item in progress.missing]
    assert kinds[0] == "course" and "quiz" in kinds
    course_item = progress.missing[0]
    assert course_item.done == 0 and course_item.total > 0
    quiz_item = next(item for item in progress.missing if item.kind == "quiz")
    assert quiz_item.percent is None and quiz_item.pass_mark == 80


def test_met_when_the_course_is_complete_and_the_quizzes_passed(programme, trainee):
    """Real completions and right answers meet the rule; results carry the scores."""
    course, lesson = first_course(programme), quiz_lesson(programme)
    rule_make(programme, courses=[course], lessons=[lesson])
    course_complete(trainee, course)
    quizzes_pass(trainee, lesson)

    progress = rule_check(user=trainee, programme=programme)

    assert progress.met and progress.percent == 100
    assert progress.results() and all(r["value"] == 100 for r in progress.results())
    assert progress.evidence() == []


def test_a_failed_quiz_stays_missing_with_its_best_score(programme, trainee):
    lesson = quiz_lesson(programme)
    rule_make(programme, lessons=[lesson])
    quizzes_pass(trainee, lesson, right=False)

    progress = rule_check(user=trainee, programme=programme)

    assert not progress.met
    assert [item.percent for item in progress.missing] == [0] * len(progress.missing)


def test_the_chinese_edition_finds_the_english_rule(programme, trainee):
    """A rule is kept on the English edition and covers its translations."""
    rule_make(programme, lessons=[quiz_lesson(programme)])
    chinese = programme.get_translation(Locale.objects.get(language_code="zh-hans"))

    assert rule_check(user=trainee, programme=chinese).rule.programme_id == programme.pk


def test_no_rule_no_progress(programme, trainee):
    assert rule_check(user=trainee, programme=programme) is None


@pytest.mark.django_db
def test_the_form_requires_at_least_one_requirement(programme):
    form = _form({"programme": programme.pk, "renewal": "earn_again", "active": "on"})

    assert not form.is_valid()
    assert "at least one" in str(form.non_field_errors())


@pytest.mark.django_db
def test_the_form_rejects_pages_of_another_programme_and_quizless_lessons(programme):
    other = (
        ProgrammePage.objects.filter(locale=programme.locale)
        .exclude(pk=programme.pk)
        .first()
    )
    quizless = next(
        lesson
        for lesson in LessonPage.objects.descendant_of(programme).live()
        if not any(b.block_type == "quiz" for b in lesson.body)
    )
    form = _form(
        {
            "programme": programme.pk,
            "courses": [first_course(other).pk],
            "quiz_lessons": [quizless.pk],
            "renewal": "earn_again",
        }
    )

    assert not form.is_valid()
    assert "Not in this programme" in str(form.errors["courses"])
    assert "no quiz" in str(form.errors["quiz_lessons"])


@pytest.mark.django_db
def test_the_form_accepts_a_sound_rule(programme):
    form = _form(
        {
            "programme": programme.pk,
            "courses": [first_course(programme).pk],
            "quiz_lessons": [quiz_lesson(programme).pk],
            "quiz_pass_mark": "75",
            "validity_days": "365",
            "renewal": "instructor",
            "active": "on",
        }
    )

    assert form.is_valid(), form.errors
    rule = form.save()
    assert rule.validity_days == 365 and rule.courses.count() == 1


@pytest.mark.django_db
def test_the_form_rejects_a_pass_mark_over_100(programme):
    form = _form(
        {
            "programme": programme.pk,
            "quiz_lessons": [quiz_lesson(programme).pk],
            "quiz_pass_mark": "120",
            "renewal": "earn_again",
        }
    )

    assert not form.is_valid()
    assert "quiz_pass_mark" in form.errors


def test_rules_are_edited_in_the_wagtail_admin(client, programme):
    """The snippet's list and its add form open for staff with the permission."""
    admin = UserFactory(is_superuser=True, is_staff=True)
    rule_make(programme, lessons=[quiz_lesson(programme)])
    client.force_login(admin)

    listing = client.get("/admin/snippets/grading/certificaterule/")
    adding = client.get("/admin/snippets/grading/certificaterule/add/")

    assert listing.status_code == 200 and programme.title in listing.text
    assert adding.status_code == 200
