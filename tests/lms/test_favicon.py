"""/favicon.ico: the site's icon, and no cookie of its own."""

from django.contrib.staticfiles import finders
from django.test import Client


def test_favicon_goes_to_the_site_icon_without_setting_a_cookie(db):
    """Browsers ask for /favicon.ico beside the first page they open, often at the
    same moment as the next one. Answered with the 404 page it set a CSRF cookie of
    its own, which could replace the one the sign-up form had just been sent with:
    the journey test's sign-up failed with 403 that way. It now redirects to the
    icon and sets no cookie."""
    fresh = Client(enforce_csrf_checks=True)  # a first visit: no cookie yet
    response = fresh.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith(".svg")
    assert "lms/favicon" in response["Location"]
    assert "max-age=86400" in response["Cache-Control"]
    assert not response.cookies
    assert finders.find("lms/favicon.svg")


def test_pages_name_the_icon_so_browsers_need_not_guess(db):
    page = Client().get("/en/accounts/signup/")
    assert page.status_code == 200
    assert 'rel="icon"' in page.content.decode()
    assert "lms/favicon" in page.content.decode()


def test_sign_up_works_when_the_icon_is_fetched_meanwhile_without_cookies(db):
    """The race itself, in order: the sign-up form and its cookie, then a request
    for the icon made before that cookie arrived, then the form sent back."""
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/en/accounts/signup/")
    token = form.context["csrf_token"]
    icon = Client(enforce_csrf_checks=True).get("/favicon.ico")
    browser.cookies.update(icon.cookies)  # whatever it set would land in the jar
    sent = browser.post(
        "/en/accounts/signup/",
        {
            "csrfmiddlewaretoken": str(token),
            "email": "race@example.org",
            "username": "race",
            "display_name": "Race",
            "preferred_language": "en",
            "password1": "silk-road-race-2026",
            "password2": "silk-road-race-2026",
        },
    )
    assert sent.status_code == 302, sent.content.decode()[:500]
