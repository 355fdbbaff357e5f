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


def test_signed_in_visitors_are_never_served_the_anonymous_page(client, trainee):
    """A signed-in trainee gets their own page, with their name and a CSRF token,
    even when the anonymous page is in the cache; the anonymous page stays as it
    was."""
    anonymous = Client()
    _get(anonymous, LESSON)
    client.force_login(trainee)

    for _ in range(3):
        html = _get(client, LESSON).content.decode()
        assert str(trainee) in html
        assert "csrfmiddlewaretoken" in html
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


# --- Signed-in readers' own pages ---------------------------------------------------


def _signed_in(client: Client, user) -> Client:
    """Signed in, with the CSRF cookie a first page gives (none is stored before)."""
    client.force_login(user)
    first = _get(client, LESSON)
    assert HIT not in first and "csrftoken" in first.cookies
    return client


def test_a_signed_in_readers_page_is_stored_for_them_alone(
    client, trainee, other_trainee, django_assert_max_num_queries
):
    """The second look at a page is answered from the reader's own entry, before
    the session and the user are read from the database (no query at all); another
    trainee never gets it."""
    _signed_in(client, trainee)
    stored = _get(client, LESSON)
    with django_assert_max_num_queries(0):
        again = _get(client, LESSON)

    assert (stored[HIT], again[HIT]) == ("miss", "hit")
    assert again.content == stored.content
    assert "private" in again["Cache-Control"]
    other = _signed_in(Client(), other_trainee)
    html = _get(other, LESSON).content.decode()
    assert str(other_trainee) in html and str(trainee) not in html


def test_the_readers_own_progress_is_seen_at_once(client, trainee, programme, lesson):
    """Enrolling, completing the lesson and leaving the programme (a bulk update,
    with no signal) each show on the next look at the lesson."""
    from courses import services

    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"

    services.enrolment_create(user=trainee, programme=programme)
    enrolled = _get(client, LESSON)
    assert enrolled[HIT] == "miss"
    assert "Mark complete" in enrolled.content.decode()

    services.lesson_complete(user=trainee, lesson=lesson)
    completed = _get(client, LESSON)
    assert completed[HIT] == "miss"
    assert "Mark as not complete" in completed.content.decode()

    services.enrolment_leave(user=trainee, programme=programme)
    left = _get(client, LESSON)
    assert left[HIT] == "miss"
    assert "Mark as not complete" not in left.content.decode()


def test_a_message_waiting_is_shown_not_a_stored_page(client, trainee, programme):
    """Enrolling from the lesson leaves a message: the next page shows it (rendered,
    not from the cache) and the one after no longer does."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"
    token = client.cookies["csrftoken"].value

    client.post(
        f"/en/learn/programmes/{programme.pk}/enrol/",
        {"csrfmiddlewaretoken": token, "next": LESSON},
    )
    with_message = _get(client, LESSON)
    after = _get(client, LESSON)

    assert HIT not in with_message
    assert 'class="messages"' in with_message.content.decode()
    assert 'class="messages"' not in after.content.decode()


def test_publishing_is_seen_by_signed_in_readers_too(client, trainee, lesson):
    """A lesson published with a new summary is what a signed-in reader sees next."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"

    lesson.summary = "A summary written after the page was stored."
    lesson.save_revision().publish()

    response = _get(client, LESSON)
    assert response[HIT] == "miss"
    assert "A summary written after the page was stored." in response.content.decode()


def test_signing_in_again_does_not_reuse_the_stored_page(client, trainee):
    """A new sign-in rotates the CSRF secret the stored forms carry: the page is
    rendered again with the new one."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"
    old = client.cookies["csrftoken"].value

    client.logout()
    client.force_login(trainee)
    client.cookies["csrftoken"] = "x" * 32  # what a new sign-in leaves: another secret
    response = _get(client, LESSON)

    assert response[HIT] != "hit"
    assert old not in response.content.decode()


def test_a_deadline_bounds_how_long_a_page_is_kept(rf):
    """The earliest deadline still ahead is kept; a passed one changes nothing."""
    from datetime import timedelta

    from django.utils import timezone

    from lms.accounts.readerstate import page_valid_until

    request = rf.get("/")
    now = timezone.now()
    page_valid_until(request, now - timedelta(minutes=1))
    assert not hasattr(request, "page_valid_until")
    page_valid_until(request, now + timedelta(hours=2))
    page_valid_until(request, now + timedelta(hours=1))
    page_valid_until(request, now + timedelta(hours=3))
    assert request.page_valid_until == now + timedelta(hours=1)


def test_the_readers_submission_is_seen_as_grading_moves_on(client, trainee):
    """The lesson's lab block shows the reader's last submission: its arrival and
    the claim by a worker (a bulk update, with no signal) each show at once."""
    from django.core.files.base import ContentFile

    from grading import services as grading_services
    from grading.models import Submission
    from labs.models import Lab

    lab = Lab.objects.create(
        slug="landed-cost",
        title="Landed cost, step by step",
        notebook="landed-cost.ipynb",
        points=10,
        status=Lab.Status.PUBLISHED,
    )
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"

    submission = Submission(
        user=trainee, lab=lab, attempt=1, sha256="0" * 64, size=2, lab_version=1
    )
    submission.source = Submission.Source.UPLOAD
    submission.notebook.save("n.ipynb", ContentFile(b"{}"), save=False)
    submission.save()
    arrived = _get(client, LESSON)
    assert arrived[HIT] == "miss"
    assert "Attempts used: 1 of" in arrived.content.decode()
    assert _get(client, LESSON)[HIT] == "hit"

    grading_services.submission_claim(submission_id=submission.pk)
    claimed = _get(client, LESSON)
    assert claimed[HIT] == "miss"
    assert str(Submission.Status.GRADING.label) in claimed.content.decode()


def test_a_signed_in_hit_carries_the_headers_of_the_page_it_stored(
    client, trainee, settings
):
    """A reader's hit is answered above sessions and the language, yet has the
    same policy, security headers, Vary and language as the rendered page, and
    sets no cookie (the CSRF cookie is not sent again)."""
    settings.SECURE_REFERRER_POLICY = "same-origin"
    _signed_in(client, trainee)
    stored = _get(client, LESSON)
    hit = _get(client, LESSON)

    assert (stored[HIT], hit[HIT]) == ("miss", "hit")
    for header in (
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "X-Frame-Options",
        "Cross-Origin-Opener-Policy",
        "Content-Language",
        "Content-Type",
    ):
        assert hit[header] == stored[header], header
    assert hit["Content-Language"] == "en"
    assert hit["Vary"] == stored["Vary"]
    assert "cookie" in hit["Vary"].lower()
    assert not hit.cookies
    assert hit["X-Request-ID"] != stored["X-Request-ID"]


def test_a_signed_in_hit_is_in_the_language_of_its_path(client, trainee):
    """The English and the Chinese lesson are two entries: each hit is in its own
    language, whatever the reader's preferred language."""
    trainee.preferred_language = "zh-hans"
    trainee.save()
    _signed_in(client, trainee)
    chinese = LessonPage.objects.get(
        slug="duties-vat-and-landed-cost", locale__language_code="zh-hans"
    ).url
    for _ in range(2):
        english, zh = _get(client, LESSON), _get(client, chinese)

    assert (english[HIT], zh[HIT]) == ("hit", "hit")
    assert english["Content-Language"] == "en"
    assert zh["Content-Language"] == "zh-hans"
    assert 'lang="en"' in english.content.decode()
    assert 'lang="zh-Hans"' in zh.content.decode()


def test_another_reader_with_the_same_csrf_cookie_gets_their_own_page(
    client, trainee, other_trainee
):
    """The key holds the session, not only the CSRF cookie: a reader who sends
    another's CSRF cookie still gets a page rendered for themselves."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"
    other = Client()
    other.force_login(other_trainee)
    other.cookies["csrftoken"] = client.cookies["csrftoken"].value

    for _ in range(2):
        html = _get(other, LESSON).content.decode()
        assert str(other_trainee) in html and str(trainee) not in html


def test_a_signed_out_session_cookie_is_never_served_the_stored_page(client, trainee):
    """After signing out, the old session cookie (replayed, say, from a shared
    computer) gets the anonymous page, not the reader's."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"
    old = {name: client.cookies[name].value for name in ("sessionid", "csrftoken")}

    client.logout()
    replay = Client()
    for name, value in old.items():
        replay.cookies[name] = value
    response = _get(replay, LESSON)

    assert HIT not in response
    assert str(trainee) not in response.content.decode()


def test_a_changed_session_is_rendered_again(client, trainee):
    """Anything the session holds that changed since the page was stored (here a
    value written by another request) makes the page render again."""
    from django.contrib.sessions.backends.cached_db import SessionStore

    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"
    session = SessionStore(session_key=client.cookies["sessionid"].value)
    session["seen_tour"] = True
    session.save()

    assert _get(client, LESSON)[HIT] == "miss"
    assert _get(client, LESSON)[HIT] == "hit"


def test_a_password_change_elsewhere_signs_the_old_session_out(client, trainee):
    """A password changed (another device, an admin) invalidates the other
    sessions: their stored pages are not served to them either."""
    _signed_in(client, trainee)
    _get(client, LESSON)
    assert _get(client, LESSON)[HIT] == "hit"

    trainee.set_password("a-new-password-1234")
    trainee.save()
    response = _get(client, LESSON)

    assert HIT not in response
    assert str(trainee) not in response.content.decode()
