"""Login, logout, throttling of failed logins, and password reset."""

import re

from tests.factories import PASSWORD

LOGIN_URL = "/en/accounts/login/"
LINK = re.compile(r"https?://testserver(/\S+)")


def _login(client, login, password=PASSWORD):
    return client.post(LOGIN_URL, {"login": login, "password": password})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_with_username_lands_on_the_dashboard(client, trainee):
    """The right username and password sign in and redirect to the dashboard."""
    response = _login(client, trainee.username)
    assert response.status_code == 302
    assert response["Location"] == "/en/dashboard/"
    assert client.session["_auth_user_id"] == str(trainee.pk)


def test_login_with_email_works(client, trainee):
    """The email address is accepted in place of the username."""
    response = _login(client, trainee.email.upper())
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(trainee.pk)


def test_login_redirects_to_the_dashboard_in_the_preferred_language(client, trainee):
    """A user who prefers Chinese lands on /zh-hans/dashboard/."""
    trainee.preferred_language = "zh-hans"
    trainee.save()
    response = _login(client, trainee.username)
    assert response["Location"] == "/zh-hans/dashboard/"


def test_wrong_password_is_refused(client, trainee):
    """A wrong password shows the form again with an error and signs no one in."""
    response = _login(client, trainee.username, "not-the-password")
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not _signed_in(client)


def test_logout_needs_a_post(client, trainee):
    """GET only asks for confirmation; POST signs the user out."""
    client.force_login(trainee)
    response = client.get("/en/accounts/logout/")
    assert response.status_code == 200
    assert _signed_in(client)
    response = client.post("/en/accounts/logout/")
    assert response.status_code == 302
    assert not _signed_in(client)
    assert client.get("/en/dashboard/").status_code == 302


def test_five_failed_logins_lock_the_account_out(client, trainee):
    """After 5 failures for one account even the right password is refused."""
    for _ in range(5):
        assert _login(client, trainee.username, "wrong-password").status_code == 200
    response = _login(client, trainee.username)
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert not _signed_in(client)


def test_four_failed_logins_do_not_lock_the_account(client, trainee):
    """The limit is five: after four failures the right password still works."""
    for _ in range(4):
        _login(client, trainee.username, "wrong-password")
    response = _login(client, trainee.username)
    assert response.status_code == 302
    assert _signed_in(client)


def test_lockout_is_per_account(client, trainee, other_trainee):
    """Failures against one account do not lock out another."""
    for _ in range(5):
        _login(client, trainee.username, "wrong-password")
    response = _login(client, other_trainee.username)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other_trainee.pk)


def test_password_reset_by_email_sets_a_new_password(client, trainee, mailoutbox):
    """The reset email's link lets the user set a new password that then works."""
    response = client.post("/en/accounts/password/reset/", {"email": trainee.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [trainee.email]
    link = LINK.search(mailoutbox[0].body).group(1)
    assert "/accounts/password/reset/key/" in link

    response = client.get(link)  # allauth moves the key into the session
    assert response.status_code == 302
    new_password = "a-brand-new-password-99"
    response = client.post(
        response["Location"], {"password1": new_password, "password2": new_password}
    )
    assert response.status_code == 302
    trainee.refresh_from_db()
    assert trainee.check_password(new_password)

    client.logout()
    assert _login(client, trainee.username, PASSWORD).status_code == 200
    assert not _signed_in(client)
    assert _login(client, trainee.username, new_password).status_code == 302
    assert _signed_in(client)


def test_password_reset_link_is_single_use(client, trainee, mailoutbox):
    """Once used, the same reset link no longer offers a password form."""
    client.post("/en/accounts/password/reset/", {"email": trainee.email})
    link = LINK.search(mailoutbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    client.post(
        form_url, {"password1": "first-new-pass-123", "password2": "first-new-pass-123"}
    )
    client.logout()
    client.get(link)
    client.post(
        form_url,
        {"password1": "second-new-pass-456", "password2": "second-new-pass-456"},
    )
    trainee.refresh_from_db()
    assert trainee.check_password("first-new-pass-123")


def test_failed_logins_count_per_account_whether_by_username_or_email(client, trainee):
    """Alternating username and email does not buy extra attempts: 5 per account."""
    for attempt in range(5):
        login = trainee.username if attempt % 2 else trainee.email
        assert _login(client, login, "wrong-password").status_code == 200
    response = _login(client, trainee.email)
    assert "Too many failed login attempts" in response.content.decode()
    assert not _signed_in(client)
