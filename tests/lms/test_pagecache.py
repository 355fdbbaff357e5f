"""The anonymous page cache: what is served from it, what never is, and that any
change to pages (or to the labs they show) is seen by the next visitor."""

import pytest
from django.test import Client
from wagtail.models import Locale, Page, PageViewRestriction

from courses.models import CoursePage, LessonPage
from lms import pagecache

LESSON = "/en/cross-border-ecommerce/customs-duties-and-tax/duties-vat-and-landed-cost/"
HIT = pagecache.HIT_HEADER

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _page_cache_on(settings):
    settings.PAGE_CACHE_SECONDS = 300


@pytest.fixture
def lesson(db):
    return LessonPage.objects.get(
        slug="duties-vat-and-landed-cost", locale=Locale.get_default()
    )


def _get(client: Client, path: str):
    response = client.get(path)
    assert response.status_code == 200
    return response


def test_an_anonymous_lesson_is_rendered_once_then_served_from_the_cache(
    client, django_assert_num_queries
):
    """The second anonymous request gets the same page without touching the
    database; neither carries a cookie or a CSRF token."""
    first = _get(client, LESSON)
    with django_assert_num_queries(0):
        second = _get(client, LESSON)

    assert first[HIT] == "miss"
    assert second[HIT] == "hit"
    assert second.content == first.content
    assert not first.cookies and not second.cookies
    assert b"csrfmiddlewaretoken" not in first.content


def test_publishing_a_changed_lesson_shows_the_new_text_at_once(client, lesson):
    """A lesson published with new text is what the next anonymous visitor reads."""
    assert _get(client, LESSON)[HIT] == "miss"
    assert _get(client, LESSON)[HIT] == "hit"

    lesson.summary = "A summary written after the page was cached."
    lesson.save_revision().publish()

    response = _get(client, LESSON)
    assert response[HIT] == "miss"
    assert "A summary written after the page was cached." in response.content.decode()


def test_a_translation_published_shows_in_its_own_language(client, lesson):
    """Publishing the Chinese lesson refreshes the cached Chinese page."""
    chinese = lesson.get_translation(Locale.objects.get(language_code="zh-hans"))
    _get(client, chinese.url)

    chinese.summary = "缓存之后写的摘要。"
    chinese.save_revision().publish()

    assert "缓存之后写的摘要。" in _get(client, chinese.url).content.decode()


def test_unpublishing_moving_and_deleting_are_seen_at_once(client, lesson, programme):
    """An unpublished, moved or deleted page is no longer served from the cache."""
    _get(client, LESSON)
    lesson.unpublish()
    assert client.get(LESSON).status_code == 404

    lesson.save_revision().publish()
    _get(client, LESSON)
    other = (
        CoursePage.objects.child_of(programme)
        .exclude(pk=lesson.get_parent().pk)
        .first()
    )
    lesson.move(other, pos="last-child")
    moved = Page.objects.get(pk=lesson.pk).url
    response = client.get(LESSON)  # Wagtail's redirect from the old address
    assert (response.status_code, response.get("Location")) == (301, moved)
    _get(client, moved)

    Page.objects.get(pk=lesson.pk).delete()
    assert client.get(moved).status_code == 404


def test_a_lab_published_later_shows_in_the_lesson(client):
    """The lesson's lab block says "coming soon" until its lab is published, and
    the cached page follows the lab's state."""
    from labs.models import Lab

    assert "Lab coming soon" in _get(client, LESSON).content.decode()

    Lab.objects.create(
        slug="landed-cost",
        title="Landed cost, step by step",
        notebook="landed-cost.ipynb",
        points=10,
        status=Lab.Status.PUBLISHED,
    )

    html = _get(client, LESSON).content.decode()
    assert "Landed cost, step by step" in html
    assert "Lab coming soon" not in html


def test_the_generation_is_bumped_again_after_commit(
    db, django_capture_on_commit_callbacks
):
    """A change makes stored pages stale at once and again when it commits: a page
    rendered in between, from the data before the commit, is not served after."""
    from courses.cache import content_generation, content_generation_bump

    start = content_generation()
    with django_capture_on_commit_callbacks(execute=True):
        content_generation_bump()
        during = content_generation()
    assert (during, content_generation()) == (start + 1, start + 2)


def test_signed_in_visitors_are_never_served_from_the_cache(client, trainee):
    """A signed-in trainee gets their own page, with their name and a CSRF token,
    even when the anonymous page is in the cache; nothing of theirs is stored."""
    anonymous = Client()
    _get(anonymous, LESSON)
    client.force_login(trainee)

    for _ in range(2):
        response = _get(client, LESSON)
        assert HIT not in response
        assert str(trainee) in response.content.decode()
    assert _get(anonymous, LESSON)[HIT] == "hit"
    assert str(trainee) not in _get(anonymous, LESSON).content.decode()


@pytest.mark.parametrize(
    "cookie", [("sessionid", "not-a-session"), ("messages", "pending")]
)
def test_a_visitor_with_a_session_or_messages_cookie_is_not_served_from_the_cache(
    client, cookie
):
    """A session (maybe signed in) or pending messages: the page is rendered."""
    _get(Client(), LESSON)
    _get(Client(), LESSON)
    client.cookies[cookie[0]] = cookie[1]

    assert HIT not in _get(client, LESSON)


def test_the_key_holds_the_query_string_and_the_language(client):
    """Another query string or language is another entry."""
    _get(client, "/en/?from=a")
    assert _get(client, "/en/?from=a")[HIT] == "hit"
    assert _get(client, "/en/?from=b")[HIT] == "miss"
    chinese = _get(client, "/zh-hans/?from=a")
    assert chinese[HIT] == "miss"
    assert 'lang="zh-Hans"' in chinese.content.decode()


@pytest.mark.parametrize(
    "path", ["/en/accounts/login/", "/en/learn/search/?q=tax", "/healthz"]
)
def test_the_sites_own_views_are_never_stored(client, db, path):
    """Only Wagtail pages are cached: not sign-in, search or health."""
    for _ in range(2):
        response = client.get(path)
        assert HIT not in response


def test_a_page_that_uses_a_csrf_token_is_never_stored(client, lesson):
    """A password-protected lesson shows a form with a CSRF token: it is rendered
    for every visitor, each with their own token."""
    PageViewRestriction.objects.create(
        page=lesson, restriction_type=PageViewRestriction.PASSWORD, password="x"
    )
    first = Client().get(LESSON)
    second = Client().get(LESSON)

    assert b"csrfmiddlewaretoken" in first.content
    assert HIT not in first and HIT not in second
    assert first.cookies["csrftoken"].value != second.cookies["csrftoken"].value


def test_csrf_is_still_enforced_on_posts(db):
    """A cached page does not open a way around CSRF: a POST without a token is
    refused, and a POST to a cached page's address is never answered from it."""
    client = Client(enforce_csrf_checks=True)
    _get(client, LESSON)
    _get(client, LESSON)

    assert client.post("/i18n/setlang/", {"language": "zh-hans"}).status_code == 403
    assert HIT not in client.post(LESSON)


def test_anonymous_visitors_switch_language_with_links(client):
    """The header offers the other language as a link to this page in it, and no
    form (the form's CSRF token would make the page per visitor)."""
    html = _get(client, "/en/cross-border-ecommerce/").content.decode()

    assert 'href="/zh-hans/cross-border-ecommerce/"' in html
    assert 'aria-current="true">English</span>' in html
    assert "/i18n/setlang/" not in html


def test_signed_in_visitors_keep_the_language_form(client, trainee):
    """Signed in, the switcher still posts to set_language (it remembers the
    choice in the language cookie)."""
    client.force_login(trainee)

    html = _get(client, "/en/").content.decode()

    assert 'action="/i18n/setlang/"' in html
