"""Fixtures of the security tests."""

import pytest

from tests.courses.helpers import teacher_of


@pytest.fixture
def instructor(programme):
    """Here an instructor who teaches the seeded programme (whose lesson opens the
    ``landed-cost`` lab of ``tests.security.hostile``); tests/conftest.py's has no
    assignment, and meets 404 on the pages these tests read."""
    return teacher_of(programme)
