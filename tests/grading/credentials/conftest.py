"""Credential fixtures: the issuer's keys in a temporary folder, a certificate."""

from datetime import timedelta

import pytest

from grading.credentials import keys

RESULTS = [
    {"key": "quizzes", "name": "Quizzes", "value": 86, "valueMax": 100},
    {"key": "landed-cost", "name": "Landed cost lab", "value": 92, "valueMax": 100},
]
EVIDENCE = [{"name": "landed-cost.ipynb", "sha256": "ab" * 32}]


@pytest.fixture(autouse=True)
def issuer_keys(settings, tmp_path):
    """Each test has its own key folder and no configured key."""
    settings.CREDENTIALS_KEY_DIR = tmp_path / "keys" / "issuer"
    settings.CREDENTIALS_KEY_FILE = ""
    settings.CREDENTIALS_KEY = ""
    settings.CREDENTIALS_ISSUER_DID = ""
    settings.SITE_URL = "https://academy.example:8443"
    keys.keys_forget()
    yield settings.CREDENTIALS_KEY_DIR
    keys.keys_forget()


@pytest.fixture
def issue(trainee, programme):
    """Issue a certificate for the trainee (valid a year unless told)."""
    from grading.credentials import services

    def _issue(user=None, valid_for=timedelta(days=365), **kwargs):
        return services.certificate_issue(
            user=user or trainee,
            programme=kwargs.pop("programme", programme),
            results=kwargs.pop("results", RESULTS),
            evidence=kwargs.pop("evidence", EVIDENCE),
            valid_for=valid_for,
            **kwargs,
        )

    return _issue


@pytest.fixture
def certificate(issue):
    return issue()
