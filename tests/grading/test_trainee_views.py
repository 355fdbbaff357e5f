"""The trainee's side of grading: the lab's submission page, the feedback page, the
lesson's lab block and the dashboard section."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from wagtail.models import Locale

from courses.models import LessonPage
from grading import services
from grading.models import Submission
from labs.models import Lab
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

LAB_URL = "/en/grading/labs/grading-lab/submissions/"
LAB_PART_URL = "/en/grading/labs/grading-lab/submissions/part/"
HIDDEN_LINE = "assert math.isclose(float(mean([1, 2, 3, 4])), 2.5)"
WRONG_MEAN = {**RIGHT, "mean": "def mean(values):\n    return 0"}


def _feedback_url(submission) -> str:
    return f"/en/grading/submissions/{submission.pk}/"


def _submit(user, lab, answers=RIGHT) -> Submission:
    return services.submission_create(
        user=user, lab=lab, data=as_bytes(notebook_with(lab, answers))
    )


def _graded(user, lab, answers=RIGHT) -> Submission:
    submission = _submit(user, lab, answers)
    return services.submission_autograde(submission_id=submission.pk)


def _upload(data: bytes) -> dict:
    return {
        "source": "upload",
        "notebook": SimpleUploadedFile("my-lab.ipynb", data, "application/json"),
    }


@pytest.fixture
def no_hub(settings):
    """The site's hub settings point where nothing answers."""
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"
    settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    return settings


# --- The lab's submission page --------------------------------------------------------


def test_the_submission_page_starts_empty_with_both_ways_to_submit(
    client, trainee, grading_lab
):
    """Before any attempt: the button, an upload field with its label and help,
    attempts 0 of 3, no deadline, and the empty state."""
    client.force_login(trainee)
    response = client.get(LAB_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Submit my notebook from the lab" in html
    assert '<label for="id_notebook">' in html
    assert 'aria-describedby="id_notebook_help"' in html
    assert 'id="id_notebook_help"' in html
    assert "0 of 3" in html and "No deadline" in html
    assert "You have not submitted this lab yet." in html
    assert 'data-live-lab="grading-lab"' in html and "grading/trainee-live.js" in html


def test_an_upload_redirects_to_its_feedback_page(
    client, trainee, grading_lab, queued, django_capture_on_commit_callbacks
):
    """POST-redirect-GET: the upload is stored and queued, and the trainee lands on
    the new submission's page, which shows it waiting with a progress bar."""
    client.force_login(trainee)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            LAB_URL, _upload(as_bytes(notebook_with(grading_lab, RIGHT)))
        )
    submission = Submission.objects.get(user=trainee)
    assert response.status_code == 302
    assert response.url == _feedback_url(submission)
    assert queued == [submission.pk]
    html = client.get(response.url).content.decode()
    assert "Attempt 1 was submitted and is queued for grading." in html
    assert "<progress" in html and "Queued" in html
    assert f'data-live-submission="{submission.pk}"' in html


def test_a_bad_upload_is_shown_on_the_field(client, trainee, grading_lab, queued):
    """The validator's message appears under the field, linked to it and marked
    invalid; nothing is stored."""
    client.force_login(trainee)
    response = client.post(LAB_URL, _upload(b"this is not json"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "The file is not valid JSON" in html
    assert 'id="id_notebook_error" role="alert"' in html
    assert 'aria-describedby="id_notebook_help id_notebook_error"' in html
    assert 'aria-invalid="true"' in html
    assert not Submission.objects.exists()


def test_an_upload_without_a_file_asks_for_one(client, trainee, grading_lab, queued):
    """Submitting the upload form empty says which file to choose."""
    client.force_login(trainee)
    response = client.post(LAB_URL, {"source": "upload"})
    assert "Choose the .ipynb file to upload." in response.content.decode()
    assert not Submission.objects.exists()


def test_submitting_from_the_lab_without_a_hub_explains_what_to_do(
    client, trainee, grading_lab, queued, no_hub
):
    """ "Submit my notebook from the lab" with no lab server answering shows the
    reason in an alert, with the upload as the way out."""
    client.force_login(trainee)
    response = client.post(LAB_URL, {"source": "lab"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert" id="submit-error"' in html
    assert "Could not fetch your notebook from your lab" in html
    assert not Submission.objects.exists()


def test_the_history_lists_attempts_and_counts_what_is_left(
    client, trainee, grading_lab, queued
):
    """Each attempt has a row with its status and score; an attempt that ended in
    error is marked as not counting; attempts left follow."""
    graded = _graded(trainee, grading_lab)
    failed = _submit(trainee, grading_lab)
    services.submission_fail(submission_id=failed.pk, reason="Grading could not run")
    client.force_login(trainee)
    html = client.get(LAB_URL).content.decode()
    assert "1 of 3" in html  # the errored attempt does not count
    assert "(does not count)" in html
    assert "4/5" in html and "Waiting for an instructor" in html
    assert _feedback_url(graded) in html and _feedback_url(failed) in html
    assert "You have 2 attempts left." in html


def test_with_no_attempts_left_the_forms_are_replaced_by_a_notice(
    client, trainee, grading_lab, queued
):
    """All attempts used: no submit forms; a POST anyway shows the service's
    message."""
    for _attempt in range(grading_lab.max_attempts):
        _submit(trainee, grading_lab)
    client.force_login(trainee)
    html = client.get(LAB_URL).content.decode()
    assert "You have used all your attempts for this lab." in html
    assert "Submit my notebook from the lab" not in html
    response = client.post(
        LAB_URL, _upload(as_bytes(notebook_with(grading_lab, RIGHT)))
    )
    assert "You have used all 3 attempts for this lab." in response.content.decode()
    assert Submission.objects.count() == 3


def test_the_deadline_is_shown_and_a_past_one_closes_submissions(
    client, trainee, grading_lab
):
    """A lab with ``closes_at`` shows it; once past, the page says it is closed."""
    grading_lab.closes_at = timezone.now() + timedelta(days=2)
    grading_lab.save()
    client.force_login(trainee)
    html = client.get(LAB_URL).content.decode()
    local = timezone.localtime(grading_lab.closes_at).isoformat()[:19]
    assert f'datetime="{local}' in html
    assert "Submit my notebook from the lab" in html
    grading_lab.closes_at = timezone.now() - timedelta(minutes=1)
    grading_lab.save()
    html = client.get(LAB_URL).content.decode()
    assert "Submissions for this lab are closed." in html
    assert "Submit my notebook from the lab" not in html


def test_the_submission_page_is_for_signed_in_trainees(client, instructor, grading_lab):
    """Anonymous visitors are sent to the login; other roles get 403; an unknown
    or unpublished lab is 404."""
    response = client.get(LAB_URL)
    assert response.status_code == 302 and "/accounts/login/" in response.url
    client.force_login(instructor)
    assert client.get(LAB_URL).status_code == 403


def test_an_unpublished_lab_has_no_submission_page(client, trainee, grading_lab):
    """Only published labs have a submission page."""
    client.force_login(trainee)
    assert client.get("/en/grading/labs/nope/submissions/").status_code == 404
    Lab.objects.filter(pk=grading_lab.pk).update(status=Lab.Status.DRAFT)
    assert client.get(LAB_URL).status_code == 404


def test_the_history_part_is_the_live_section_alone(
    client, trainee, grading_lab, queued
):
    """The fragment the page's script fetches has the history, without the page."""
    _submit(trainee, grading_lab)
    client.force_login(trainee)
    html = client.get(LAB_PART_URL).content.decode()
    assert 'data-status-text="Attempt 1: Queued"' in html
    assert "<html" not in html and "Submit my notebook from the lab" not in html


# --- The feedback page ----------------------------------------------------------------


def test_feedback_shows_each_graded_cell_and_the_notes(
    client, trainee, grading_lab, queued
):
    """Graded: score, pending manual grade, each graded cell with its points and
    outcome, and the note that an instructor still grades a cell."""
    submission = _graded(trainee, grading_lab)
    client.force_login(trainee)
    response = client.get(_feedback_url(submission))
    assert response.status_code == 200
    html = response.content.decode()
    assert "4/5" in html and "(80%)" in html
    assert "<progress" not in html
    for name in ("double_tests", "mean_tests", "explain"):
        assert f"<code>{name}</code>" in html
    assert "2/2" in html and "Passed" in html
    assert "Waiting for an instructor to grade it" in html
    assert "Some answers are graded by an instructor; the total may rise." in html


def test_feedback_never_shows_hidden_test_source(client, trainee, grading_lab, queued):
    """A failed hidden test is named with its points only; an error message that
    repeats a hidden line is withheld; the notebook's own source is not shown."""
    leaky = {
        **RIGHT,
        "mean": (f"def mean(values):\n    raise ValueError({HIDDEN_LINE!r})"),
    }
    for answers in (WRONG_MEAN, leaky):
        submission = _graded(trainee, grading_lab, answers)
        client.force_login(trainee)
        for url in (_feedback_url(submission), f"{_feedback_url(submission)}part/"):
            html = client.get(url).content.decode()
            assert "A hidden test failed (its code is not shown)" in html
            assert "0/2" in html
            assert "math.isclose" not in html
            assert "return sum(values)" not in html and "def double" not in html


def test_an_instructors_comment_reaches_the_trainee(
    client, trainee, instructor, grading_lab, queued
):
    """After manual grading: the cell's points, "Graded by an instructor", the
    comment, the full score and pass."""
    submission = _graded(trainee, grading_lab)
    services.submission_grade_manual(
        submission=submission,
        grade_id="explain",
        points=Decimal("1"),
        comment="Clear: one outlier shifts the mean.",
        grader=instructor,
    )
    client.force_login(trainee)
    html = client.get(_feedback_url(submission)).content.decode()
    assert "Graded by an instructor" in html
    assert "Clear: one outlier shifts the mean." in html
    assert "5/5" in html and '<span class="badge pass">Passed</span>' in html


def test_an_errored_submission_says_it_does_not_count(
    client, trainee, grading_lab, queued
):
    """Status error: the reason's first line in an alert, and that the attempt
    does not count."""
    submission = _submit(trainee, grading_lab)
    services.submission_fail(
        submission_id=submission.pk,
        reason="Grading could not run: no sandbox\nTraceback (most recent call last)",
    )
    client.force_login(trainee)
    html = client.get(_feedback_url(submission)).content.decode()
    assert "Grading could not run: no sandbox" in html
    assert "Traceback" not in html
    assert "The attempt does not count" in html


def test_the_live_part_follows_the_grading(client, trainee, grading_lab, queued):
    """The fragment the script fetches on an event shows the state at that moment:
    a progress bar while queued, the score once graded."""
    submission = _submit(trainee, grading_lab)
    client.force_login(trainee)
    part = f"{_feedback_url(submission)}part/"
    html = client.get(part).content.decode()
    assert "<progress" in html and "data-pending" in html
    services.submission_autograde(submission_id=submission.pk)
    html = client.get(part).content.decode()
    assert "<progress" not in html and "data-pending" not in html
    assert 'data-status-text="Graded"' in html and "4/5" in html


def test_only_the_owner_and_instructors_see_a_submission(
    client, trainee, other_trainee, instructor, grading_lab, queued
):
    """Anonymous visitors go to the login; another trainee gets 404 on the page
    and its part; an instructor sees it with the trainee's name."""
    submission = _submit(trainee, grading_lab)
    url = _feedback_url(submission)
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response.url
    client.force_login(other_trainee)
    assert client.get(url).status_code == 404
    assert client.get(f"{url}part/").status_code == 404
    client.force_login(instructor)
    response = client.get(url)
    assert response.status_code == 200
    assert str(trainee) in response.content.decode()


# --- The lesson's lab block and the dashboard -----------------------------------------


def _lesson_with_grading_lab() -> LessonPage:
    lesson = LessonPage.objects.live().filter(locale=Locale.get_default()).first()
    lesson.body = [("lab", {"lab": "grading-lab", "title": ""})]
    lesson.save()
    return lesson


def test_the_lab_block_shows_attempts_and_the_last_submission(
    client, trainee, grading_lab, queued
):
    """In a lesson, the lab block tells the trainee their attempts used and left,
    the last submission's state and score, and links to the submission page."""
    lesson = _lesson_with_grading_lab()
    client.force_login(trainee)
    html = client.get(lesson.url).content.decode()
    assert "Attempts used: 0 of 3 (3 left)" in html
    assert LAB_URL in html and "Submit / see my submissions" in html
    submission = _graded(trainee, grading_lab)
    html = client.get(lesson.url).content.decode()
    assert "Attempts used: 1 of 3 (2 left)" in html
    assert "Last submission (attempt 1):" in html and "4/5" in html
    assert _feedback_url(submission) in html


def test_the_lab_block_shows_no_submissions_to_visitors(client, grading_lab):
    """Anonymous readers see the lab but no attempts."""
    lesson = _lesson_with_grading_lab()
    html = client.get(lesson.url).content.decode()
    assert "Grading lab" in html
    assert "Attempts used" not in html and LAB_URL not in html


def test_the_dashboard_lists_recent_lab_submissions(
    client, trainee, other_trainee, grading_lab, queued
):
    """The "Lab submissions" section lists the trainee's own submissions with
    status, score and links; before any, it says how to submit."""
    client.force_login(trainee)
    html = client.get("/en/dashboard/").content.decode()
    assert "Lab submissions" in html
    assert "You have not submitted a lab yet." in html
    mine = _graded(trainee, grading_lab)
    theirs = _submit(other_trainee, grading_lab)
    html = client.get("/en/dashboard/").content.decode()
    assert _feedback_url(mine) in html and LAB_URL in html
    assert _feedback_url(theirs) not in html
    assert "4/5" in html and "Graded" in html
