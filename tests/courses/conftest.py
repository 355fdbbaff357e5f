"""Fixtures of the courses tests: the seeded pages a trainee works through."""

import pytest
from wagtail.models import Locale

from courses import services
from courses.models import LessonPage
from tests.courses.helpers import quiz_lessons


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
    return quiz_lessons()[0]


@pytest.fixture
def enrolled(trainee, programme):
    """``trainee``, enrolled in the seeded programme."""
    services.enrolment_create(user=trainee, programme=programme)
    return trainee
