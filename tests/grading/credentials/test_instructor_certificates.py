"""The instructor's certificates: list and filters, revoke with a reason after a
confirmation (POST, CSRF), re-issue, and those about to expire."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from grading.credentials.models import Certificate
from grading.credentials.verify import verify_by_id
from tests.factories import UserFactory

LIST = "grading:certificates_admin"


def test_only_instructors_and_staff_get_in(client, trainee, certificate, instructor):
    url = reverse(LIST)
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(trainee)
    assert client.get(url).status_code == 403
    revoke = reverse("grading:certificate_revoke", args=[certificate.pk])
    assert client.post(revoke, {"reason": "x"}).status_code == 403
    client.force_login(UserFactory(role="employer", is_staff=True))
    assert client.get(url).status_code == 200
    client.force_login(instructor)
    assert client.get(url).status_code == 200


def test_the_list_filters_by_status_and_search(
    client, instructor, certificate, issue, other_trainee
):
    other = issue(user=other_trainee)
    Certificate.objects.filter(pk=other.pk).update(revoked_at=timezone.now())
    client.force_login(instructor)

    revoked = client.get(reverse(LIST), {"status": "revoked"}).text
    searched = client.get(reverse(LIST), {"q": certificate.user.username}).text

    assert other_trainee.email in revoked and certificate.user.email not in revoked
    assert certificate.user.email in searched and other_trainee.email not in searched


def test_revoking_asks_for_a_reason_and_flips_the_status(
    client, instructor, certificate
):
    """GET shows the confirmation; a POST without a reason is refused; with one,
    the certificate is revoked and verification says so at once."""
    url = reverse("grading:certificate_revoke", args=[certificate.pk])
    client.force_login(instructor)

    confirm = client.get(url)
    assert confirm.status_code == 200 and "Revoke this certificate?" in confirm.text
    assert 'name="csrfmiddlewaretoken"' in confirm.text
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200
    assert verify_by_id(certificate.pk).status == "valid"

    done = client.post(url, {"reason": "Submitted someone else's notebook"})

    assert done.status_code == 302
    certificate.refresh_from_db()
    assert certificate.revoked_reason == "Submitted someone else's notebook"
    assert certificate.revoked_by == instructor
    assert verify_by_id(certificate.pk).status == "revoked"


def test_revoking_needs_the_csrf_token(instructor, certificate):
    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    url = reverse("grading:certificate_revoke", args=[certificate.pk])

    assert client.post(url, {"reason": "No token"}).status_code == 403
    certificate.refresh_from_db()
    assert not certificate.is_revoked


def test_reissuing_replaces_the_certificate(client, instructor, certificate):
    url = reverse("grading:certificate_reissue", args=[certificate.pk])
    client.force_login(instructor)

    assert "Re-issue this certificate?" in client.get(url).text
    assert client.post(url).status_code == 302

    new = Certificate.objects.get(replaces=certificate)
    assert verify_by_id(new.pk).status == "valid"
    assert verify_by_id(certificate.pk).status == "revoked"
    assert new.results == certificate.results


def test_expiring_within_30_days(client, instructor, certificate, issue, other_trainee):
    later = issue(user=other_trainee)
    Certificate.objects.filter(pk=certificate.pk).update(
        valid_until=timezone.now() + timedelta(days=10)
    )
    client.force_login(instructor)

    page = client.get(reverse(LIST), {"expiring": "on"}).text

    assert certificate.user.email in page and later.user.email not in page
    assert "1 certificate expires within 30 days." in client.get(reverse(LIST)).text


def test_the_wagtail_admin_menu_links_to_the_certificates(client, instructor):
    admin = UserFactory(role="instructor", is_staff=True, is_superuser=True)
    client.force_login(admin)

    page = client.get("/admin/").text

    assert reverse(LIST) in page


def test_an_instructor_sees_and_acts_on_their_programmes_certificates_only(
    client, certificate, issue, other_trainee, programme
):
    """Another programme's instructor does not find the certificate in the list
    or the programme filter, and revoking, re-issuing or opening it is a 404 that
    changes nothing; the programme's own instructor lists it."""
    from courses.models import ProgrammePage
    from tests.courses.helpers import teacher_of

    elsewhere = (
        ProgrammePage.objects.filter(locale=programme.locale)
        .exclude(pk=programme.pk)
        .first()
    )
    theirs = issue(user=other_trainee, programme=elsewhere)
    client.force_login(teacher_of(elsewhere))

    listed = client.get(reverse(LIST))
    choices = [value for value, _ in listed.context["form"].fields["programme"].choices]

    assert str(certificate.pk) not in listed.text
    assert str(theirs.pk) in listed.text
    assert choices == ["", elsewhere.pk]
    for name in ("certificate_revoke", "certificate_reissue"):
        url = reverse(f"grading:{name}", args=[certificate.pk])
        assert client.get(url).status_code == 404
        assert client.post(url, {"reason": "not mine"}).status_code == 404
    detail = reverse("grading:certificate_detail", args=[certificate.pk])
    assert client.get(detail).status_code == 404
    assert verify_by_id(certificate.pk).status == "valid"
    assert Certificate.objects.filter(user=certificate.user).count() == 1

    client.force_login(teacher_of(programme))
    assert str(certificate.pk) in client.get(reverse(LIST)).text
    assert client.get(detail).status_code == 200


def test_an_unassigned_instructor_is_told_whom_to_ask(client, certificate):
    """No programme: no certificate listed, and a message saying an administrator
    must assign them programmes; the Wagtail menu has no certificates item."""
    from django.contrib.auth.models import Group

    user = UserFactory(role="instructor")
    user.groups.add(Group.objects.get(name="Editors"))
    client.force_login(user)

    response = client.get(reverse(LIST))

    assert str(certificate.pk) not in response.text
    assert "An administrator must assign you" in response.text
    assert reverse(LIST) not in client.get("/admin/").text
