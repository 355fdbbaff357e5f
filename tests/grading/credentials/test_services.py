"""Issuing, revoking and re-issuing certificates."""

import pytest
from django.db import IntegrityError

from grading.credentials import keys, services, status
from grading.credentials.jose import credential_decode
from grading.models import Certificate


def test_issue_signs_the_credential_with_the_current_key(certificate):
    """The stored JWT verifies with our key and carries the stored document."""
    header, payload = credential_decode(certificate.jwt, keys.key_resolve)

    assert header == {"alg": "EdDSA", "typ": "vc+jwt", "kid": certificate.key_id}
    assert certificate.key_id == keys.signing_key().kid
    assert {k: payload[k] for k in certificate.credential} == certificate.credential
    assert payload["iss"] == certificate.credential["issuer"]["id"]
    assert payload["jti"] == f"urn:uuid:{certificate.pk}"
    assert payload["nbf"] == int(certificate.valid_from.timestamp())
    assert payload["exp"] == int(certificate.valid_until.timestamp())
    assert "sub" not in payload and "vc" not in payload


def test_issue_is_idempotent(issue, django_capture_on_commit_callbacks):
    """A second issue returns the un-revoked certificate; the signal fires once."""
    received = []

    def listener(sender, certificate, **kwargs):
        received.append(certificate.pk)

    services.certificate_issued.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = issue()
            second = issue()
    finally:
        services.certificate_issued.disconnect(listener)
    assert first.pk == second.pk
    assert received == [first.pk]
    assert Certificate.objects.count() == 1


def test_the_chinese_edition_of_a_programme_gives_the_same_certificate(
    issue, programme
):
    """Issuing from the zh-hans page finds the certificate of the English one."""
    from wagtail.models import Locale

    chinese = programme.get_translation(Locale.objects.get(language_code="zh-hans"))
    assert issue().pk == issue(programme=chinese).pk


def test_one_unrevoked_certificate_per_user_and_programme_in_the_database(
    certificate,
):
    """The database itself refuses a second un-revoked certificate."""
    duplicate = Certificate(
        user=certificate.user,
        programme=certificate.programme,
        programme_slug=certificate.programme_slug,
        issued_at=certificate.issued_at,
        valid_from=certificate.valid_from,
        status_list=certificate.status_list,
        status_index=(certificate.status_index + 1) % certificate.status_list.size,
        credential={},
        jwt="x",
        key_id="k",
    )
    with pytest.raises(IntegrityError):
        duplicate.save()


def test_revoke_sets_the_bit_and_reissue_replaces(certificate, instructor):
    """Revoking sets exactly the certificate's bit; re-issuing revokes the old one
    as "reissued" and signs a new one that replaces it, same validity length."""
    index = certificate.status_index
    new = services.certificate_reissue(certificate=certificate, by=instructor)
    certificate.refresh_from_db()
    bits = bytes(certificate.status_list.bits)

    assert status.bit_get(bits, index)
    assert sum(bin(b).count("1") for b in bits) == 1
    assert certificate.revoked_reason == "reissued"
    assert certificate.revoked_by == instructor
    assert new.replaces == certificate and new.pk != certificate.pk
    assert new.status_index != index
    assert new.valid_until - new.valid_from == (
        certificate.valid_until - certificate.valid_from
    )


def test_indexes_are_random_and_unique(issue, programme):
    """Indexes are spread over the list, not handed out in order."""
    from tests.factories import UserFactory

    indexes = [issue(user=UserFactory()).status_index for _ in range(8)]
    assert len(set(indexes)) == 8
    assert indexes != sorted(indexes) or max(indexes) > 1000
