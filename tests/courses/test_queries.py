"""Pages and the dashboard run a fixed number of queries however much data there is.

Each page is requested once to warm caches (site root paths, content types), then
measured; the same is done again after the data has grown 50-fold.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from wagtail.models import Locale

from courses import services
from courses.models import CataloguePage, CoursePage, LessonPage, ProgrammePage
from tests.courses.helpers import correct_answers, quiz_lessons
from tests.factories import UserFactory


def _queries(client, url: str) -> tuple[int, list[str]]:
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context), [query["sql"] for query in context.captured_queries]


def _cohort_grows(programme, lessons, quiz) -> None:
    """49 more trainees enrolled, with completions and a quiz attempt each."""
    lesson, block = quiz
    for user in UserFactory.create_batch(49, role="trainee"):
        services.enrolment_create(user=user, programme=programme)
        for done in lessons[:4]:
            services.lesson_complete(user=user, lesson=done)
        services.quiz_attempt_submit(
            user=user, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
        )


def _page_url(kind: str, programme, lessons, quiz, language: str) -> str:
    english = {
        "catalogue": programme.get_parent(),
        "programme": programme,
        "course": CoursePage.objects.child_of(programme).first(),
        "lesson": quiz[0],
    }[kind]
    locale = Locale.objects.get(language_code=language)
    return english.get_translation(locale).url


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("kind", ["catalogue", "programme", "course", "lesson"])
def test_page_queries_do_not_grow_with_the_cohort(
    client, enrolled, programme, lessons, quiz, kind, language
):
    """A page costs the same number of queries with 1 or 50 enrolled trainees."""
    lesson, block = quiz
    services.lesson_complete(user=enrolled, lesson=lessons[0])
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )
    client.force_login(enrolled)
    url = _page_url(kind, programme, lessons, quiz, language)

    before, _sql = _queries(client, url)
    _cohort_grows(programme, lessons, quiz)
    after, sql = _queries(client, url)

    assert after == before, "\n".join(sql)


def _programme_add(catalogue: CataloguePage, n: int) -> ProgrammePage:
    """A published programme with one course of two lessons under ``catalogue``."""
    programme = ProgrammePage(
        title=f"Extra programme {n}", slug=f"extra-{n}", summary="Extra."
    )
    catalogue.add_child(instance=programme)
    programme.save_revision().publish()
    course = CoursePage(title=f"Extra course {n}", slug="course", summary="Extra.")
    programme.add_child(instance=course)
    course.save_revision().publish()
    for i in range(2):
        lesson = LessonPage(title=f"Extra lesson {n}.{i}", slug=f"lesson-{i}")
        course.add_child(instance=lesson)
        lesson.save_revision().publish()
    return programme


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_dashboard_queries_do_not_grow_with_enrolments(
    client, enrolled, programme, lessons, language
):
    """The dashboard costs the same number of queries with 1 or 50 programmes."""
    services.lesson_complete(user=enrolled, lesson=lessons[0])
    for lesson, block in quiz_lessons(programme=programme):
        services.quiz_attempt_submit(
            user=enrolled,
            lesson=lesson,
            quiz_id=block.id,
            answers=correct_answers(block),
        )
    client.force_login(enrolled)
    url = f"/{language}/dashboard/"

    before, _sql = _queries(client, url)
    catalogue = programme.get_parent().specific
    for n in range(49):
        extra = _programme_add(catalogue, n)
        services.enrolment_create(user=enrolled, programme=extra)
        services.lesson_complete(
            user=enrolled, lesson=LessonPage.objects.descendant_of(extra).first()
        )
    after, sql = _queries(client, url)

    html = client.get(url).content.decode()
    assert html.count('class="card programme-progress"') == 50
    assert after == before, "\n".join(sql)


def test_catalogue_queries_do_not_grow_with_programmes(client, enrolled, programme):
    """The catalogue costs the same number of queries with 1 or 50 programmes."""
    client.force_login(enrolled)
    catalogue = programme.get_parent().specific

    before, _sql = _queries(client, catalogue.url)
    for n in range(49):
        services.enrolment_create(user=enrolled, programme=_programme_add(catalogue, n))
    after, sql = _queries(client, catalogue.url)

    assert after == before, "\n".join(sql)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_programme_page_queries_do_not_grow_with_courses(
    client, enrolled, programme, zh_locale, language
):
    """A programme page costs the same with 3 or 9 translated courses."""
    client.force_login(enrolled)
    url = programme.get_translation(Locale.objects.get(language_code=language)).url

    before, _sql = _queries(client, url)
    for n in range(6):
        course = CoursePage(title=f"Extra course {n}", slug=f"extra-{n}", summary="S")
        programme.add_child(instance=course)
        course.save_revision().publish()
        translation = course.copy_for_translation(zh_locale).specific
        translation.title = f"附加课程 {n}"
        translation.save_revision().publish()
    after, sql = _queries(client, url)

    assert client.get(url).content.decode().count('<li class="card">') == 9
    assert after == before, "\n".join(sql)


@pytest.mark.parametrize("name", ["cohort_programme", "cohort_course"])
def test_cohort_queries_do_not_grow_with_the_cohort(
    client, instructor, enrolled, programme, lessons, quiz, name
):
    """An instructor's cohort table costs the same with 1 or 50 trainees."""
    page_id = (
        programme.pk
        if name == "cohort_programme"
        else CoursePage.objects.child_of(programme).first().pk
    )
    with translation.override("en"):
        url = reverse(f"courses:{name}", args=[page_id])
    client.force_login(instructor)

    before, _sql = _queries(client, url)
    _cohort_grows(programme, lessons, quiz)
    after, sql = _queries(client, url)

    assert client.get(url).content.decode().count('<th scope="row">') == 50
    assert after == before, "\n".join(sql)


# The seeded lesson with both a lab block and a quiz.
LAB_LESSON = "duties-vat-and-landed-cost"
LESSON_QUERY_LIMIT = 12


def _lab_history(user, lab, lesson, block, *, attempts: int) -> None:
    """A lab session, ``attempts`` graded submissions and quiz attempts of ``user``."""
    from grading.models import Submission
    from labs.models import LabSession

    LabSession.objects.get_or_create(
        user=user, lab=lab, defaults={"state": "running", "placed_version": 1}
    )
    start = Submission.objects.filter(user=user, lab=lab).count()
    for n in range(start + 1, start + attempts + 1):
        Submission.objects.create(
            user=user,
            lab=lab,
            attempt=n,
            notebook=f"submissions/{user.pk}-{n}.ipynb",
            sha256="0" * 64,
            size=100,
            source=Submission.Source.UPLOAD,
            lab_version=1,
            status=Submission.Status.GRADED,
            score=8,
            max_score=10,
            passed=True,
        )
        services.quiz_attempt_submit(
            user=user, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
        )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_signed_in_lesson_with_a_lab_costs_at_most_12_queries(
    client, enrolled, programme, lessons, language
):
    """A trainee's lesson page with a lab and a quiz (their lab session, last
    submission, attempts and quiz result shown) costs at most 12 queries, and the
    same number whether they and their cohort have a little history or 50 times
    more."""
    from labs.models import Lab

    lab = Lab.objects.create(
        slug="landed-cost",
        title="Landed cost",
        notebook="landed-cost.ipynb",
        points=10,
        status=Lab.Status.PUBLISHED,
    )
    lesson = LessonPage.objects.get(slug=LAB_LESSON, locale=Locale.get_default())
    [block] = [b for b in lesson.body if b.block_type == "quiz"]
    services.lesson_complete(user=enrolled, lesson=lessons[0])
    _lab_history(enrolled, lab, lesson, block, attempts=1)
    client.force_login(enrolled)
    url = lesson.get_translation(Locale.objects.get(language_code=language)).url

    before, _sql = _queries(client, url)
    for done in lessons:
        services.lesson_complete(user=enrolled, lesson=done)
    _lab_history(enrolled, lab, lesson, block, attempts=49)
    for user in UserFactory.create_batch(49, role="trainee"):
        services.enrolment_create(user=user, programme=programme)
        _lab_history(user, lab, lesson, block, attempts=2)
    after, sql = _queries(client, url)

    html = client.get(url).content.decode()
    assert 'class="lab-submissions"' in html  # the trainee's own lab standing
    assert "50" in html  # attempts used, and the last one's number
    assert after == before, "\n".join(sql)
    assert after <= LESSON_QUERY_LIMIT, "\n".join(sql)
