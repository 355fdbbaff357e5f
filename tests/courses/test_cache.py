"""What readers see alike is cached per content generation (courses.cache): the
lesson outline, which page a path names and whether any page is restricted. A
change to pages, labs or restrictions is seen by the next signed-in request."""

import pytest
from wagtail.models import Locale, PageViewRestriction

from courses.models import LessonPage

LESSON = "/en/cross-border-ecommerce/customs-duties-and-tax/duties-vat-and-landed-cost/"


@pytest.fixture
def lesson(db):
    return LessonPage.objects.get(
        slug="duties-vat-and-landed-cost", locale=Locale.get_default()
    )


def _html(client, path: str = LESSON) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_a_renamed_lesson_shows_in_the_outline_of_its_neighbours(
    client, enrolled, lesson
):
    """The lesson list beside each lesson follows a published rename."""
    client.force_login(enrolled)
    neighbour = lesson.get_prev_sibling().specific
    _html(client, neighbour.url)

    lesson.title = "Duties, VAT and landed cost, revised"
    lesson.save_revision().publish()

    assert "Duties, VAT and landed cost, revised" in _html(client, neighbour.url)


def test_a_lab_published_later_opens_for_the_trainee(client, enrolled):
    """The lab block offers "Open lab" once its lab is published."""
    from labs.models import Lab

    client.force_login(enrolled)
    assert "Open lab" not in _html(client)

    Lab.objects.create(
        slug="landed-cost",
        title="Landed cost",
        notebook="landed-cost.ipynb",
        points=10,
        status=Lab.Status.PUBLISHED,
    )

    assert "Open lab" in _html(client)


def test_a_restriction_added_later_applies_at_once(client, enrolled, lesson):
    """A password put on a lesson after it was served is asked for next time."""
    client.force_login(enrolled)
    _html(client)

    PageViewRestriction.objects.create(
        page=lesson, restriction_type=PageViewRestriction.PASSWORD, password="x"
    )

    assert 'name="password"' in _html(client)


def test_a_moved_lesson_is_found_at_its_new_address(client, enrolled, lesson):
    """Which page a path names is read again after a move."""
    client.force_login(enrolled)
    _html(client)
    course = lesson.get_parent()
    other = course.get_prev_sibling() or course.get_next_sibling()

    lesson.move(other, pos="last-child")
    lesson.refresh_from_db()

    assert client.get(LESSON).status_code == 301  # Wagtail's redirect
    assert "<h1>Duties, Import VAT/GST and Landed Cost</h1>" in _html(
        client, lesson.url
    )


def test_an_unknown_path_is_404(client, db):
    """A path that names no page is 404, as Wagtail answers it."""
    assert client.get("/en/cross-border-ecommerce/no-such-course/").status_code == 404
    assert client.get("/en/no-such-programme/x/y/").status_code == 404


def test_the_body_is_shared_but_each_reader_sees_their_own_quiz(
    client, enrolled, other_trainee, programme, lesson
):
    """The lesson's text is rendered once for everyone; the quiz shows each
    trainee their own last attempt, never another's."""
    from courses import services
    from tests.courses.helpers import correct_answers, quiz_blocks

    services.enrolment_create(user=other_trainee, programme=programme)
    [block] = quiz_blocks(lesson)
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )
    client.force_login(enrolled)
    mine = _html(client)
    client.force_login(other_trainee)
    theirs = _html(client)

    assert "Your last attempt" in mine
    assert "Your last attempt" not in theirs
    assert "Calculate in order" in mine and "Calculate in order" in theirs
