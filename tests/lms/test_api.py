"""The JSON API under /api/v1/: tokens, programmes, enrolment, schema."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from courses.models import Enrolment
from lms.accounts.models import BearerToken
from tests.courses.helpers import curriculum
from tests.factories import PASSWORD, UserFactory

TOKEN_URL = "/api/v1/auth/token"
ENROL_URL = "/api/v1/programmes/cross-border-ecommerce/enrolment"
TITLE_EN = "Cross-border E-commerce and Silk Road Trade"
TITLE_ZH = "跨境电子商务与“丝路电商”贸易"


def _token_request(client, username, password=PASSWORD):
    return client.post(
        TOKEN_URL,
        {"username": username, "password": password},
        content_type="application/json",
    )


def _token(client, user) -> str:
    response = _token_request(client, user.username)
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- Tokens -------------------------------------------------------------------------


def test_token_for_username_and_password(client, trainee):
    """The right credentials answer 200 with a token string."""
    response = _token_request(client, trainee.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token"}
    assert len(body["token"]) >= 32


def test_token_by_email(client, trainee):
    """An email address works in place of the username."""
    response = _token_request(client, trainee.email)
    assert response.status_code == 200
    assert response.json()["token"]


def test_token_refused_for_a_wrong_password(client, trainee):
    """A wrong password answers 401 with a reason and no token."""
    response = _token_request(client, trainee.username, "wrong-password")
    assert response.status_code == 401
    assert "token" not in response.json()
    assert response.json()["detail"]


def test_token_refused_for_an_inactive_user(client, trainee):
    """A deactivated account gets no token even with its right password."""
    trainee.is_active = False
    trainee.save()
    assert _token_request(client, trainee.username).status_code == 401


def test_token_throttled_after_five_failures(client, trainee):
    """After 5 failures the right password answers 429 too."""
    for _ in range(5):
        assert _token_request(client, trainee.username, "nope").status_code == 401
    response = _token_request(client, trainee.username)
    assert response.status_code == 429
    assert "Too many" in response.json()["detail"]


def test_token_throttle_is_shared_with_the_web_login(client, trainee):
    """Failures through the API count against the web login's limit."""
    for _ in range(5):
        _token_request(client, trainee.username, "nope")
    response = client.post(
        "/en/accounts/login/", {"login": trainee.username, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()


def test_only_the_token_digest_is_stored(client, trainee):
    """The database keeps the SHA-256 of the token, never the token itself."""
    token = _token(client, trainee)
    stored = BearerToken.objects.get(user=trainee)
    assert stored.digest == BearerToken.digest_of(token)
    assert stored.digest != token
    assert not BearerToken.objects.filter(digest=token).exists()
    assert stored.expires_at > timezone.now() + timedelta(days=29)


def test_token_use_records_last_used(client, trainee):
    """Using a token stamps last_used_at."""
    token = _token(client, trainee)
    assert BearerToken.objects.get(user=trainee).last_used_at is None
    client.post(ENROL_URL, headers=_bearer(token))
    assert BearerToken.objects.get(user=trainee).last_used_at is not None


# --- Enrolment ----------------------------------------------------------------------


def test_enrol_with_a_token_then_again(client, trainee, programme):
    """First enrolment answers 201, a repeat answers 200; one active enrolment."""
    token = _token(client, trainee)
    response = client.post(ENROL_URL, headers=_bearer(token))
    assert response.status_code == 201
    body = response.json()
    assert body["programme"] == "cross-border-ecommerce"
    assert body["status"] == "active"
    assert body["enrolled_at"]
    response = client.post(ENROL_URL, headers=_bearer(token))
    assert response.status_code == 200
    assert Enrolment.objects.get(user=trainee, programme=programme).status == "active"


def test_enrol_in_an_unknown_programme_is_404(client, trainee):
    """An unknown slug answers 404 and records nothing."""
    token = _token(client, trainee)
    response = client.post(
        "/api/v1/programmes/no-such-programme/enrolment", headers=_bearer(token)
    )
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert not Enrolment.objects.filter(user=trainee).exists()


def test_unprefixed_site_pages_still_redirect_to_the_language(client, db):
    """Outside the API a missing language prefix is still added by redirect."""
    response = client.get("/cross-border-ecommerce/")
    assert response.status_code == 302
    assert response["Location"] == "/en/cross-border-ecommerce/"


@pytest.mark.parametrize("role", ["employer", "instructor"])
def test_only_trainees_can_enrol(client, db, role):
    """Employer and instructor tokens are refused with 403."""
    user = UserFactory(role=role)
    response = client.post(ENROL_URL, headers=_bearer(_token(client, user)))
    assert response.status_code == 403
    assert not Enrolment.objects.filter(user=user).exists()


def test_enrol_without_auth_is_401(client, db):
    """No token and no session: 401, and nothing is recorded."""
    before = Enrolment.objects.count()
    assert client.post(ENROL_URL).status_code == 401
    assert Enrolment.objects.count() == before


def test_enrol_with_a_bogus_token_is_401(client, trainee):
    """A token that was never issued is refused."""
    response = client.post(ENROL_URL, headers=_bearer("not-a-real-token"))
    assert response.status_code == 401
    assert not Enrolment.objects.filter(user=trainee).exists()


def test_enrol_with_an_expired_token_is_401(client, trainee):
    """A token past its expiry is refused."""
    token = _token(client, trainee)
    BearerToken.objects.filter(user=trainee).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.post(ENROL_URL, headers=_bearer(token))
    assert response.status_code == 401
    assert not Enrolment.objects.filter(user=trainee).exists()


def test_token_of_a_deactivated_user_is_401(client, trainee):
    """Deactivating an account stops its existing tokens."""
    token = _token(client, trainee)
    trainee.is_active = False
    trainee.save()
    assert client.post(ENROL_URL, headers=_bearer(token)).status_code == 401


def test_leave_a_programme(client, trainee, programme):
    """DELETE answers 204 and the enrolment is marked left."""
    token = _token(client, trainee)
    client.post(ENROL_URL, headers=_bearer(token))
    response = client.delete(ENROL_URL, headers=_bearer(token))
    assert response.status_code == 204
    enrolment = Enrolment.objects.get(user=trainee, programme=programme)
    assert enrolment.status == Enrolment.Status.LEFT
    assert enrolment.left_at is not None
    # Enrolling again re-activates it and counts as new.
    assert client.post(ENROL_URL, headers=_bearer(token)).status_code == 201


def test_session_auth_post_requires_csrf(trainee):
    """A browser session may call the API, but a POST needs the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(trainee)
    response = client.post(ENROL_URL)
    assert response.status_code == 403, response.content
    assert "CSRF" in response.json()["detail"]
    assert not Enrolment.objects.filter(user=trainee).exists()

    client.get("/en/accounts/profile/")  # any page with a form sets the cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post(ENROL_URL, headers={"X-CSRFToken": csrf})
    assert response.status_code == 201
    assert Enrolment.objects.filter(user=trainee, status="active").exists()


def test_token_for_an_unverified_email_is_refused(client, db):
    """Mandatory email verification holds for the API as for the web login."""
    user = UserFactory()
    user.emailaddress_set.update(verified=False)
    response = _token_request(client, user.username)
    assert response.status_code == 403
    assert "Confirm your email" in response.json()["detail"]
    assert not BearerToken.objects.filter(user=user).exists()


# --- Programmes ---------------------------------------------------------------------


def test_programme_list_has_both_languages(client, db):
    """Without a filter every programme of the curriculum is listed once in English
    and once in Chinese, with the title its YAML gives for that language."""
    response = client.get("/api/v1/programmes")
    assert response.status_code == 200
    items = response.json()
    listed = [(item["slug"], item["locale"], item["title"]) for item in items]
    expected = [
        (slug, language, programme["title"][language])
        for slug, programme in curriculum().items()
        for language, _name in settings.LANGUAGES
    ]
    assert sorted(listed) == sorted(expected)
    assert ("cross-border-ecommerce", "en", TITLE_EN) in listed
    assert ("cross-border-ecommerce", "zh-hans", TITLE_ZH) in listed
    for item in items:
        assert set(item) == {"slug", "title", "locale", "url"}
        assert item["slug"]
        assert item["url"].startswith("http")
        assert f"/{item['locale']}/" in item["url"]


def test_programme_list_filtered_by_locale(client, db):
    """?locale=zh-hans lists only the Chinese pages."""
    response = client.get("/api/v1/programmes", {"locale": "zh-hans"})
    assert response.status_code == 200
    items = response.json()
    assert items
    assert {item["locale"] for item in items} == {"zh-hans"}
    assert TITLE_ZH in [item["title"] for item in items]


def test_programme_list_unknown_locale_is_400(client, db):
    """An unknown locale is a client error, not an empty list."""
    response = client.get("/api/v1/programmes", {"locale": "xx"})
    assert response.status_code == 400
    assert "xx" in response.json()["detail"]


def test_openapi_schema_lists_the_public_paths(client, db):
    """The schema is JSON with the documented paths."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "openapi" in schema
    for path in (
        "/api/v1/auth/token",
        "/api/v1/programmes",
        "/api/v1/programmes/{slug}/enrolment",
    ):
        assert path in schema["paths"], sorted(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/programmes/{slug}/enrolment"]
    assert "delete" in schema["paths"]["/api/v1/programmes/{slug}/enrolment"]
