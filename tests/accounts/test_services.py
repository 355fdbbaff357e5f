"""Account services: demo users (and the seed_demo command that makes them)."""

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from wagtail.models import Locale

from courses.models import Enrolment, ProgrammePage
from courses.teaching import lab_taught, programmes_taught
from labs.models import Lab
from lms.accounts.models import User
from lms.accounts.services import demo_users_ensure

ROLES = {
    "trainee": "trainee",
    "instructor": "instructor",
    "employer": "employer",
    "graduate": "trainee",
}


@pytest.mark.django_db
def test_demo_users_have_their_roles_and_verified_emails():
    """The four demo users exist with the right role and a verified primary email."""
    users, password = demo_users_ensure(password="demo-pass-123")
    assert password == "demo-pass-123"
    assert set(users) == set(ROLES)
    for username, role in ROLES.items():
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.display_name
        assert user.check_password("demo-pass-123")
        address = EmailAddress.objects.get(user=user)
        assert address.verified
        assert address.primary
        assert address.email == user.email


@pytest.mark.django_db
def test_demo_users_can_log_in_through_the_web_form(client):
    """Their verified emails let the demo users past mandatory verification."""
    demo_users_ensure(password="demo-pass-123")
    response = client.post(
        "/en/accounts/login/", {"login": "graduate", "password": "demo-pass-123"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/en/dashboard/"
    assert client.session["_auth_user_id"] == str(
        User.objects.get(username="graduate").pk
    )


@pytest.mark.django_db
def test_demo_users_ensure_is_idempotent_and_resets_the_password():
    """A second run creates nothing new and gives every user the new password."""
    demo_users_ensure(password="first-pass-123")
    users, _ = demo_users_ensure(password="second-pass-456")
    assert User.objects.filter(username__in=ROLES).count() == 4
    assert EmailAddress.objects.filter(user__username__in=ROLES).count() == 4
    for user in users.values():
        user.refresh_from_db()
        assert user.check_password("second-pass-456")
        assert not user.check_password("first-pass-123")


@pytest.mark.django_db
def test_demo_users_ensure_restores_a_changed_role():
    """Running again repairs a demo user whose role was changed."""
    demo_users_ensure(password="demo-pass-123")
    User.objects.filter(username="instructor").update(role="trainee")
    demo_users_ensure(password="demo-pass-123")
    assert User.objects.get(username="instructor").role == "instructor"


@pytest.mark.django_db
def test_demo_password_comes_from_the_environment_setting(settings):
    """Without an argument, $DEMO_PASSWORD (settings.DEMO_PASSWORD) is used."""
    settings.DEMO_PASSWORD = "from-the-env-789"
    users, password = demo_users_ensure()
    assert password == "from-the-env-789"
    assert users["employer"].check_password("from-the-env-789")


@pytest.mark.django_db
def test_demo_password_is_generated_when_none_is_given(settings):
    """With no password anywhere, a fresh random one is set and returned."""
    settings.DEMO_PASSWORD = ""
    _, first = demo_users_ensure()
    _, second = demo_users_ensure()
    assert len(first) >= 12
    assert first != second
    user = User.objects.get(username="trainee")
    assert user.check_password(second)
    assert not user.check_password(first)


@pytest.mark.django_db
def test_seed_demo_command_makes_users_enrols_graduate_and_prints_password(client):
    """`seed_demo --password X` creates the users, enrols graduate, prints X."""
    out = StringIO()
    call_command("seed_demo", password="seeded-pass-321", stdout=out)
    output = out.getvalue()
    assert "seeded-pass-321" in output
    for username, role in ROLES.items():
        user = User.objects.get(username=username)
        assert user.role == role
        assert user.check_password("seeded-pass-321")
    enrolment = Enrolment.objects.get(user__username="graduate")
    assert enrolment.status == Enrolment.Status.ACTIVE
    assert enrolment.programme.slug == "cross-border-ecommerce"
    assert enrolment.programme.locale.language_code == "en"
    instructor = User.objects.get(username="instructor")
    assert set(instructor.groups.values_list("name", flat=True)) >= {
        "Moderators",
        "Editors",
    }
    client.force_login(instructor)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    """Running seed_demo twice leaves one of each user and one enrolment, and the
    demo instructor teaching every demo programme, listed once on each."""
    call_command("seed_demo", password="seeded-pass-321", stdout=StringIO())
    programmes = ProgrammePage.objects.live().filter(locale=Locale.get_default())
    call_command("seed_demo", password="seeded-pass-321", stdout=StringIO())
    assert User.objects.filter(username__in=ROLES).count() == 4
    assert Enrolment.objects.filter(user__username="graduate").count() == 1
    instructor = User.objects.get(username="instructor")
    assert set(programmes_taught(user=instructor)) == set(programmes)
    rows = ProgrammePage.instructors.through.objects.filter(user=instructor)
    assert sorted(rows.values_list("programmepage_id", flat=True)) == sorted(
        p.pk for p in programmes
    )
    # What the demo's instructor then sees: the labs the demo lessons open.
    assert lab_taught(user=instructor, lab=Lab.objects.get(slug="landed-cost"))
    assert set(programmes_taught(user=User.objects.get(username="trainee"))) == set()
