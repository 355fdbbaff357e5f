"""courses.selectors: progress per programme and course, dashboard and cohorts."""

from datetime import timedelta

from django.utils import timezone
from wagtail.models import Locale

from courses import selectors, services
from courses.models import CoursePage, QuizAttempt
from tests.courses.helpers import correct_answers, numeric_questions, wrong_answer


def _courses(programme):
    return list(CoursePage.objects.live().child_of(programme).order_by("path"))


def test_programmes_progress_structure_follows_the_page_tree(trainee, programme):
    """Progress lists the programme's courses and lessons in tree order."""
    progress = selectors.programmes_progress(
        user=trainee, programmes=[programme], locale=Locale.get_default()
    )[programme.pk]

    courses = _courses(programme)
    assert [c.canonical_id for c in progress.courses] == [c.pk for c in courses]
    for course, item in zip(courses, progress.courses, strict=True):
        lessons = course.get_children().live().order_by("path")
        assert [lesson.canonical_id for lesson in item.lessons] == [
            lesson.pk for lesson in lessons
        ]
    assert progress.total == 10
    assert progress.done == 0
    assert progress.percent == 0


def test_programmes_progress_percentages_per_course_and_programme(
    enrolled, programme, lessons
):
    """Percentages are completed lessons over lessons, per course and programme."""
    first_course = _courses(programme)[0]
    in_first = [
        lesson for lesson in lessons if lesson.path.startswith(first_course.path)
    ]
    assert len(in_first) == 3
    for lesson in in_first[:2]:
        services.lesson_complete(user=enrolled, lesson=lesson)
    services.lesson_complete(user=enrolled, lesson=lessons[-1])

    progress = selectors.programmes_progress(
        user=enrolled, programmes=[programme], locale=Locale.get_default()
    )[programme.pk]

    assert [course.done for course in progress.courses] == [2, 0, 1]
    assert [course.percent for course in progress.courses] == [67, 0, 25]
    assert progress.done == 3
    assert progress.percent == 30


def test_next_lesson_is_the_first_incomplete_lesson(enrolled, programme, lessons):
    """next_lesson skips completed lessons; it is None when all are complete."""
    services.lesson_complete(user=enrolled, lesson=lessons[0])
    services.lesson_complete(user=enrolled, lesson=lessons[2])

    def progress():
        return selectors.programmes_progress(
            user=enrolled, programmes=[programme], locale=Locale.get_default()
        )[programme.pk]

    assert progress().next_lesson.canonical_id == lessons[1].pk
    for lesson in lessons:
        services.lesson_complete(user=enrolled, lesson=lesson)
    assert progress().next_lesson is None
    assert progress().percent == 100


def test_programmes_progress_in_chinese_shows_chinese_pages(
    enrolled, programme, lessons, zh_locale
):
    """In zh-hans, pages are the Chinese translations; ids stay canonical."""
    services.lesson_complete(user=enrolled, lesson=lessons[0])

    progress = selectors.programmes_progress(
        user=enrolled, programmes=[programme], locale=zh_locale
    )[programme.pk]

    assert progress.page.locale_id == zh_locale.pk
    assert progress.canonical_id == programme.pk
    for item in progress.lessons:
        assert item.page.locale_id == zh_locale.pk
    assert progress.lessons[0].canonical_id == lessons[0].pk
    assert progress.lessons[0].done is True
    assert progress.next_lesson.page.url.startswith("/zh-hans/")


def test_programmes_progress_ignores_other_users(enrolled, other_trainee, programme):
    """Another trainee's completions do not count towards this trainee's progress."""
    services.enrolment_create(user=other_trainee, programme=programme)
    lesson = _courses(programme)[0].get_children().live().first().specific
    services.lesson_complete(user=other_trainee, lesson=lesson)

    progress = selectors.programmes_progress(
        user=enrolled, programmes=[programme], locale=Locale.get_default()
    )[programme.pk]

    assert progress.done == 0


def test_dashboard_lists_active_enrolments_with_progress(enrolled, programme, lessons):
    """The dashboard shows active enrolments only, with progress and next lesson."""
    services.lesson_complete(user=enrolled, lesson=lessons[0])

    context = selectors.dashboard_for(user=enrolled, locale=Locale.get_default())

    assert [p.canonical_id for p in context["programmes"]] == [programme.pk]
    assert context["programmes"][0].done == 1
    assert context["programmes"][0].next_lesson.canonical_id == lessons[1].pk
    assert context["recent_attempts"] == []

    services.enrolment_leave(user=enrolled, programme=programme)
    context = selectors.dashboard_for(user=enrolled, locale=Locale.get_default())
    assert context["programmes"] == []


def test_dashboard_recent_attempts_newest_first_at_most_five(enrolled, quiz, zh_locale):
    """Recent results are the five newest attempts, with the lesson in the locale."""
    lesson, block = quiz
    numeric = numeric_questions(block)[0]
    start = timezone.now() - timedelta(days=1)
    scores = []
    for i in range(7):
        answers = correct_answers(block)
        if i % 2:
            answers[numeric.id] = wrong_answer(numeric)
        attempt = services.quiz_attempt_submit(
            user=enrolled, lesson=lesson, quiz_id=block.id, answers=answers
        )
        # Distinct times, so "newest first" has one right answer.
        QuizAttempt.objects.filter(pk=attempt.pk).update(
            submitted_at=start + timedelta(minutes=i)
        )
        scores.append(attempt.pk)

    context = selectors.dashboard_for(user=enrolled, locale=zh_locale)

    recent = context["recent_attempts"]
    assert [item["attempt"].pk for item in recent] == scores[::-1][:5]
    assert all(item["lesson"].locale_id == zh_locale.pk for item in recent)
    assert recent[0]["lesson"].translation_key == lesson.translation_key


def test_cohort_rows_report_each_trainee(
    enrolled, other_trainee, programme, lessons, quiz
):
    """Cohort rows give course and programme percentages, lessons done and the best
    quiz percentage of each trainee."""
    services.enrolment_create(user=other_trainee, programme=programme)
    for lesson in lessons[:3]:
        services.lesson_complete(user=enrolled, lesson=lesson)
    lesson, block = quiz
    numeric = numeric_questions(block)[0]
    bad = {**correct_answers(block), numeric.id: wrong_answer(numeric)}
    low = services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=bad
    )
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=correct_answers(block)
    )
    services.quiz_attempt_submit(
        user=enrolled, lesson=lesson, quiz_id=block.id, answers=bad
    )
    enrolments = list(selectors.cohort_enrolments(programme=programme))

    structure, rows = selectors.cohort_rows(
        programme=programme, enrolments=enrolments, locale=Locale.get_default()
    )

    assert len(structure.lessons) == 10
    by_user = {row.user.pk: row for row in rows}
    mine, theirs = by_user[enrolled.pk], by_user[other_trainee.pk]
    assert mine.course_percents == [100, 0, 0]
    assert mine.percent == 30
    assert mine.lesson_done == [True] * 3 + [False] * 7
    assert low.percent < 100
    assert mine.quiz_best == {block.id: 100}
    assert theirs.course_percents == [0, 0, 0]
    assert theirs.percent == 0
    assert theirs.quiz_best == {}


def test_cohort_enrolments_leave_out_those_who_left(enrolled, other_trainee, programme):
    """The cohort is the programme's active enrolments, ordered by username."""
    services.enrolment_create(user=other_trainee, programme=programme)
    services.enrolment_leave(user=other_trainee, programme=programme)

    cohort = list(selectors.cohort_enrolments(programme=programme))

    assert [e.user_id for e in cohort] == [enrolled.pk]
    assert selectors.cohort_sizes(programmes=[programme]) == {programme.pk: 1}
