"""The profile page: display name and preferred language."""

from django.conf import settings

PROFILE_URL = "/en/accounts/profile/"


def test_profile_requires_login(client, db):
    """Anonymous visitors are sent to the login page with a way back."""
    response = client.get(PROFILE_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/en/accounts/login/?next=")
    assert "/en/accounts/profile/" in response["Location"]


def test_profile_shows_the_users_details(client, trainee):
    """The page shows username, email, role and a form with the current values."""
    client.force_login(trainee)
    response = client.get(PROFILE_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert trainee.username in html
    assert trainee.email in html
    assert "Trainee" in html
    form = response.context["form"]
    assert form["display_name"].value() == trainee.display_name
    assert form["preferred_language"].value() == "en"


def test_saving_the_profile_updates_the_user_and_the_language_cookie(client, trainee):
    """A valid post saves both fields, sets the language cookie and redirects."""
    client.force_login(trainee)
    response = client.post(
        PROFILE_URL,
        {"display_name": "  Amina Yusuf  ", "preferred_language": "zh-hans"},
    )
    assert response.status_code == 302
    # The next page is in the newly chosen language.
    assert response["Location"] == "/zh-hans/accounts/profile/"
    trainee.refresh_from_db()
    assert trainee.display_name == "Amina Yusuf"
    assert trainee.preferred_language == "zh-hans"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "zh-hans"
    assert cookie["samesite"] == "Lax"


def test_an_unknown_language_is_a_form_error(client, trainee):
    """A language outside LANGUAGES is refused and nothing is saved."""
    client.force_login(trainee)
    response = client.post(
        PROFILE_URL, {"display_name": "Changed", "preferred_language": "xx"}
    )
    assert response.status_code == 200
    assert "preferred_language" in response.context["form"].errors
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    trainee.refresh_from_db()
    assert trainee.display_name != "Changed"
    assert trainee.preferred_language == "en"


def test_profile_post_cannot_change_the_role(client, trainee):
    """Only display name and language are editable: a posted role is ignored."""
    client.force_login(trainee)
    client.post(
        PROFILE_URL,
        {"display_name": "X", "preferred_language": "en", "role": "instructor"},
    )
    trainee.refresh_from_db()
    assert trainee.role == "trainee"
    assert trainee.display_name == "X"
