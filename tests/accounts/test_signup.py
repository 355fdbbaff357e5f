"""Sign-up with mandatory email verification (django-allauth + our extra fields)."""

import re

import pytest
from allauth.account.models import EmailAddress

from lms.accounts.models import User

SIGNUP_URL = "/en/accounts/signup/"
PASSWORD = "a-fresh-signup-password-77"
LINK = re.compile(r"https?://testserver(/\S+)")


def _signup(client, **overrides):
    data = {
        "email": "new.trainee@example.org",
        "username": "newtrainee",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "display_name": "  Li Wei  ",
        "preferred_language": "zh-hans",
        **overrides,
    }
    return client.post(SIGNUP_URL, data)


def _link(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


@pytest.mark.django_db
def test_signup_form_offers_the_extra_fields(client):
    """The sign-up page asks for display name and preferred language too."""
    response = client.get(SIGNUP_URL)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("email", "username", "password1", "password2"):
        assert f'name="{name}"' in html
    assert 'name="display_name"' in html
    assert 'name="preferred_language"' in html
    assert 'value="zh-hans"' in html


@pytest.mark.django_db
def test_signup_saves_a_trainee_with_profile_and_sends_a_verification_email(
    client, mailoutbox
):
    """Signing up creates an unverified trainee and mails a confirmation link."""
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/en/accounts/confirm-email/"
    user = User.objects.get(username="newtrainee")
    assert user.role == "trainee"
    assert user.display_name == "Li Wei"
    assert user.preferred_language == "zh-hans"
    assert user.check_password(PASSWORD)
    address = EmailAddress.objects.get(user=user)
    assert address.email == "new.trainee@example.org"
    assert not address.verified
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["new.trainee@example.org"]
    assert "/accounts/confirm-email/" in _link(message)


@pytest.mark.django_db
def test_signup_refuses_an_unknown_language(client, mailoutbox):
    """A language outside LANGUAGES is a form error; no user, no email."""
    response = _signup(client, preferred_language="xx")
    assert response.status_code == 200
    assert "preferred_language" in response.context["form"].errors
    assert not User.objects.filter(username="newtrainee").exists()
    assert mailoutbox == []


@pytest.mark.django_db
def test_signup_refuses_mismatched_passwords(client, mailoutbox):
    """password2 must repeat password1."""
    response = _signup(client, password2=PASSWORD + "x")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not User.objects.filter(username="newtrainee").exists()
    assert mailoutbox == []


@pytest.mark.django_db
def test_unverified_user_cannot_log_in(client, mailoutbox):
    """Before confirming the email, a correct password does not sign the user in."""
    _signup(client)
    client.logout()
    response = client.post(
        "/en/accounts/login/", {"login": "newtrainee", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/en/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert client.get("/en/dashboard/").status_code == 302


@pytest.mark.django_db
def test_confirmation_link_needs_a_post_then_verifies_and_logs_in(client, mailoutbox):
    """GET shows the confirmation; POST verifies the address and signs the user in."""
    _signup(client)
    link = _link(mailoutbox[0])
    user = User.objects.get(username="newtrainee")

    response = client.get(link)
    assert response.status_code == 200
    assert not EmailAddress.objects.get(user=user).verified
    assert "_auth_user_id" not in client.session

    response = client.post(link)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    assert client.session["_auth_user_id"] == str(user.pk)
    # The dashboard answers in the language chosen at sign-up.
    assert response["Location"] == "/zh-hans/dashboard/"
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_verified_user_logs_in_after_confirming(client, mailoutbox):
    """Once confirmed, the new account logs in with its password on a new session."""
    _signup(client)
    client.post(_link(mailoutbox[0]))
    client.logout()
    response = client.post(
        "/en/accounts/login/", {"login": "newtrainee", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_a_tampered_confirmation_key_verifies_nothing(client, mailoutbox):
    """A forged key is refused and leaves the address unverified."""
    _signup(client)
    link = _link(mailoutbox[0])
    forged = link.rstrip("/")[:-3] + "xyz/"
    client.post(forged)
    assert not EmailAddress.objects.get(email="new.trainee@example.org").verified
    assert "_auth_user_id" not in client.session
