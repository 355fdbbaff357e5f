"""Fixtures of the courses tests: the seeded pages a trainee works through."""

import pytest
from wagtail.models import Locale

from courses import services
from courses.models import LessonPage, ProgrammePage
from tests.courses.helpers import quiz_lessons, teacher_of


@pytest.fixture
def zh_locale(db):
    return Locale.objects.get(language_code="zh-hans")


@pytest.fixture
def lessons(programme):
    """The English lessons of the seeded programme, in reading order."""
    return list(LessonPage.objects.live().descendant_of(programme).order_by("path"))


@pytest.fixture
def quiz(programme):
    """The first quiz of the programme: (English lesson, quiz block)."""
    return quiz_lessons(programme=programme)[0]


@pytest.fixture
def enrolled(trainee, programme):
    """``trainee``, enrolled in the seeded programme."""
    services.enrolment_create(user=trainee, programme=programme)
    return trainee


@pytest.fixture
def enrolled_everywhere(trainee):
    """``trainee``, enrolled in every seeded programme, so every quiz is open."""
    for programme in ProgrammePage.objects.live().filter(locale=Locale.get_default()):
        services.enrolment_create(user=trainee, programme=programme)
    return trainee


@pytest.fixture
def instructor(programme):
    """Here an instructor who teaches the seeded programme (``courses.teaching``);
    tests/conftest.py's has no assignment."""
    return teacher_of(programme)
