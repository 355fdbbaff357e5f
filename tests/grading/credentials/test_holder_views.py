"""The holder's certificate pages, files and API: only the holder (or an
instructor) sees a certificate; others get a 404, anonymous users the login."""

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from grading.credentials.services import certificate_revoke
from tests.factories import PASSWORD
from tests.grading.credentials.rules_helpers import quiz_lesson, rule_make


@pytest.fixture
def urls(certificate):
    pk = certificate.pk
    return [
        reverse("grading:certificate_detail", args=[pk]),
        reverse("grading:certificate_file", args=[pk, "jwt"]),
        reverse("grading:certificate_file", args=[pk, "json"]),
    ]


def test_anonymous_users_are_sent_to_login(client, urls):
    for url in [*urls, reverse("grading:certificate_list")]:
        response = client.get(url)
        assert (
            response.status_code == 302 and "/accounts/login/" in response["Location"]
        )


def test_another_trainee_gets_a_404(client, urls, other_trainee):
    client.force_login(other_trainee)
    for url in urls:
        assert client.get(url).status_code == 404


def test_an_instructor_may_open_any_certificate(client, urls, instructor):
    client.force_login(instructor)
    for url in urls:
        assert client.get(url).status_code == 200


def test_the_list_shows_status_dates_and_the_skills_transcript(
    client, trainee, certificate, issue, programme, instructor
):
    """A valid and a revoked certificate; the transcript lists the valid one's
    skills with their framework codes or URIs."""
    certificate_revoke(certificate=certificate, reason="Error", by=instructor)
    valid = issue()
    client.force_login(trainee)

    page = client.get(reverse("grading:certificate_list")).text

    assert reverse("grading:certificate_detail", args=[valid.pk]) in page
    assert "Revoked" in page and "Valid" in page
    for skill in programme.skills.all():
        assert skill.name in page
        assert (skill.uri or skill.code) in page
        for alignment in skill.alignments.all():
            assert f'<a href="{alignment.uri}" rel="noopener" lang="en">' in page
            assert escape(alignment.name) in page


def test_the_list_is_empty_and_shows_what_is_missing(client, trainee, programme):
    from courses.services import enrolment_create

    enrolment_create(user=trainee, programme=programme)
    lesson = quiz_lesson(programme)
    rule_make(programme, lessons=[lesson])
    client.force_login(trainee)

    page = client.get(reverse("grading:certificate_list")).text

    assert "You have no certificates yet" in page
    assert "Still to do for the certificate" in page
    assert "not attempted yet" in page


def test_the_detail_offers_downloads_and_linkedin(client, trainee, certificate):
    client.force_login(trainee)

    page = client.get(reverse("grading:certificate_detail", args=[certificate.pk])).text

    assert f"/verify/{certificate.pk}" in page
    assert "https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME" in page
    assert f"certId={certificate.pk}" in page
    assert reverse("grading:certificate_pdf", args=[certificate.pk, "zh-hans"]) in page


def test_the_credential_files_hold_the_signed_jwt(client, trainee, certificate):
    client.force_login(trainee)

    jwt = client.get(reverse("grading:certificate_file", args=[certificate.pk, "jwt"]))
    enveloped = client.get(
        reverse("grading:certificate_file", args=[certificate.pk, "json"])
    )

    assert jwt["Content-Type"] == "application/vc+jwt"
    assert f'credential-{certificate.pk}.jwt"' in jwt["Content-Disposition"]
    assert jwt.content.decode() == certificate.jwt
    body = json.loads(enveloped.content)
    assert body["id"] == f"data:application/vc+jwt,{certificate.jwt}"
    assert body["type"] == "EnvelopedVerifiableCredential"


def test_the_api_lists_the_callers_certificates(
    client, trainee, certificate, issue, instructor, other_trainee
):
    """``GET /api/v1/certificates`` → ``[{id, programme, status, credential_url}]``."""
    certificate_revoke(certificate=certificate, reason="Error", by=instructor)
    valid = issue()
    issue(user=other_trainee)
    token = client.post(
        "/api/v1/auth/token",
        {"username": trainee.username, "password": PASSWORD},
        content_type="application/json",
    ).json()["token"]

    response = client.get("/api/v1/certificates", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    listed = {item["id"]: item for item in response.json()}
    assert set(listed) == {str(valid.pk), str(certificate.pk)}
    assert listed[str(valid.pk)]["status"] == "valid"
    assert listed[str(certificate.pk)]["status"] == "revoked"
    assert listed[str(valid.pk)]["programme"] == "cross-border-ecommerce"
    assert listed[str(valid.pk)]["credential_url"].endswith(f"/credentials/{valid.pk}")


def test_the_api_needs_a_caller(client):
    assert client.get("/api/v1/certificates").status_code == 401


def test_the_dashboard_shows_the_certificates_section(client, trainee, certificate):
    client.force_login(trainee)

    page = client.get("/en/dashboard/").text

    assert 'id="your-certificates"' in page
    assert reverse("grading:certificate_detail", args=[certificate.pk]) in page
