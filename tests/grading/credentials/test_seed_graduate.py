"""The ``graduate`` demo user holds a valid certificate and a revoked one, issued
and revoked by the real services, however often the demo is seeded."""

from grading.credentials.models import Certificate
from grading.credentials.rules import CertificateRule
from grading.credentials.seeding import graduate_certificates_ensure
from grading.credentials.verify import verify_by_id
from tests.factories import UserFactory


def test_the_graduate_holds_one_valid_and_one_revoked_certificate_idempotently(db):
    graduate = UserFactory(username="graduate", role="trainee")

    first = graduate_certificates_ensure(user=graduate)
    again = graduate_certificates_ensure(user=graduate)

    assert [c.pk for c in first] == [c.pk for c in again]
    held = Certificate.objects.filter(user=graduate)
    assert held.count() == 2
    valid, revoked = first
    assert verify_by_id(valid.pk).status == "valid"
    assert verify_by_id(revoked.pk).status == "revoked"
    assert revoked.revoked_reason
    assert valid.results and all(
        r["value"] >= r["requiredValue"] for r in valid.results
    )
    rule = CertificateRule.objects.get(programme=valid.programme)
    assert rule.courses.exists() and rule.quiz_lessons.exists()
    assert CertificateRule.objects.count() == 2  # one per programme used, not more
