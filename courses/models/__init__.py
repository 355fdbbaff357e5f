"""Curricula (Wagtail pages and skills) and the learning records kept against them."""

from courses.models.learning import Enrolment, LessonCompletion, QuizAttempt
from courses.models.pages import CataloguePage, CoursePage, LessonPage, ProgrammePage
from courses.models.skills import Skill, SkillAlignment, SkillFramework

__all__ = [
    "CataloguePage",
    "CoursePage",
    "Enrolment",
    "LessonCompletion",
    "LessonPage",
    "ProgrammePage",
    "QuizAttempt",
    "Skill",
    "SkillAlignment",
    "SkillFramework",
]
