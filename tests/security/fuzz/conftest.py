"""The fixtures the fuzz tests share with the grading and credential suites:
the issuer's keys and a real certificate, the published grading lab."""

from tests.grading.conftest import grading_lab, grading_release, queued  # noqa: F401
from tests.grading.credentials.conftest import (  # noqa: F401
    certificate,
    issue,
    issuer_keys,
)
