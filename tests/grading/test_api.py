"""Submissions in the JSON API: POST /api/v1/labs/<slug>/submissions and
GET /api/v1/submissions/<id>."""

from django.core.files.uploadedfile import SimpleUploadedFile

from grading import services
from grading.models import Submission
from labs.models import Lab
from lms.accounts.services import api_token_create
from tests.factories import UserFactory
from tests.grading.helpers import RIGHT, as_bytes, notebook_with

SUBMIT_URL = "/api/v1/labs/grading-lab/submissions"
HIDDEN_LINE = "assert math.isclose(float(mean([1, 2, 3, 4])), 2.5)"


def _upload(data: bytes, name: str = "grading-lab.ipynb") -> dict:
    return {"notebook": SimpleUploadedFile(name, data, "application/x-ipynb+json")}


def _multipart(data: bytes, name: str) -> tuple[bytes, str]:
    """A form with the one file part ``notebook`` named ``name``, as sent."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="notebook"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: application/x-ipynb+json\r\n\r\n'
        + data
        + b"\r\n--B--\r\n"
    )
    return body, "multipart/form-data; boundary=B"


def _right(lab) -> bytes:
    return as_bytes(notebook_with(lab, RIGHT))


def _submit(user, lab, data: bytes | None = None) -> Submission:
    return services.submission_create(
        user=user, lab=lab, data=data if data is not None else _right(lab)
    )


def _detail_url(submission) -> str:
    return f"/api/v1/submissions/{submission.pk}"


# --- Submitting -----------------------------------------------------------------------


def test_an_uploaded_notebook_is_stored_and_queued(
    client, trainee, grading_lab, queued, django_capture_on_commit_callbacks
):
    """An .ipynb in the multipart field ``notebook`` answers 201 {id, status}; the
    file is stored with its sha256 and queued for grading after commit."""
    client.force_login(trainee)
    data = _right(grading_lab)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SUBMIT_URL, _upload(data))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "status": "queued"}
    submission = Submission.objects.get(pk=body["id"])
    assert submission.user == trainee and submission.lab == grading_lab
    assert submission.source == Submission.Source.UPLOAD and submission.attempt == 1
    with submission.notebook.open("rb") as handle:
        assert handle.read() == data
    assert queued == [submission.pk]


def test_a_bearer_token_is_enough_to_submit(client, trainee, grading_lab, queued):
    """Scripted clients submit with ``Authorization: Bearer <token>``."""
    token = api_token_create(user=trainee)
    response = client.post(
        SUBMIT_URL,
        _upload(_right(grading_lab)),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.content
    assert Submission.objects.filter(user=trainee).count() == 1


def test_a_file_that_is_not_a_notebook_is_refused_with_the_reason(
    client, trainee, grading_lab, queued
):
    """Malformed JSON answers 400 with the validator's message; nothing is stored."""
    client.force_login(trainee)
    response = client.post(SUBMIT_URL, _upload(b'{"cells": [', "broken.ipynb"))
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]
    assert not Submission.objects.exists() and queued == []


def test_a_file_over_the_size_limit_is_refused_unread(
    client, trainee, grading_lab, queued, settings
):
    """A file larger than SUBMISSION_MAX_BYTES answers 400 naming the limit."""
    settings.SUBMISSION_MAX_BYTES = 1024
    client.force_login(trainee)
    response = client.post(SUBMIT_URL, _upload(b" " * 4096))
    assert response.status_code == 400
    assert "the limit is" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_no_attempts_left_is_a_400_with_a_clear_message(
    client, trainee, grading_lab, queued
):
    """After ``max_attempts`` submissions the next one is refused and says why."""
    for _attempt in range(grading_lab.max_attempts):
        _submit(trainee, grading_lab)
    client.force_login(trainee)
    response = client.post(SUBMIT_URL, _upload(_right(grading_lab)))
    assert response.status_code == 400
    assert response.json() == {"detail": "You have used all 3 attempts for this lab."}
    assert Submission.objects.filter(user=trainee).count() == 3


def test_without_a_file_the_notebook_comes_from_the_lab_or_a_clear_503(
    client, trainee, grading_lab, queued, settings
):
    """No body: the notebook is fetched from the caller's running lab; with no hub
    answering, 503 with Retry-After tells the trainee to open the lab or upload
    the file."""
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"  # nothing listens on port 9
    settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    client.force_login(trainee)
    response = client.generic("POST", SUBMIT_URL)  # no body at all
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    detail = response.json()["detail"]
    assert "Could not fetch your notebook from your lab" in detail
    assert "upload the .ipynb file" in detail
    assert not Submission.objects.exists()


def test_an_upload_whose_file_the_parser_drops_is_refused_not_taken_from_the_lab(
    client, trainee, grading_lab, queued, settings
):
    """A file part whose name Django's parser drops ('.', '..', a control
    character), another field instead of the file, or a raw body: 400 saying how
    to send the notebook; never "submit the notebook saved in the lab", which
    would grade another notebook than the one sent."""
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"  # a lab fetch would answer 503
    settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    client.force_login(trainee)
    data = _right(grading_lab)
    for name in (".", "..", "\x07"):
        response = client.generic("POST", SUBMIT_URL, *_multipart(data, name))
        assert response.status_code == 400, (name, response.content)
        assert "has no notebook file" in response.json()["detail"]
    for kwargs in (
        {},  # an empty form: the test client's "--BoUnDaRy--" alone
        {"data": {"other": "x"}},
        {"data": data, "content_type": "application/x-ipynb+json"},
    ):
        response = client.post(SUBMIT_URL, **kwargs)
        assert response.status_code == 400, response.content
        assert "has no notebook file" in response.json()["detail"]
    assert not Submission.objects.exists() and queued == []


def test_only_trainees_submit(client, instructor, employer, grading_lab, queued):
    """Instructors and employers get 403; anonymous callers 401."""
    assert client.post(SUBMIT_URL).status_code == 401
    for user in (instructor, employer):
        client.force_login(user)
        response = client.post(SUBMIT_URL, _upload(_right(grading_lab)))
        assert response.status_code == 403
    assert not Submission.objects.exists()


def test_an_unknown_or_unpublished_lab_is_404(client, trainee, grading_lab, queued):
    """Only published labs take submissions."""
    client.force_login(trainee)
    assert client.post("/api/v1/labs/no-such-lab/submissions").status_code == 404
    Lab.objects.filter(pk=grading_lab.pk).update(status=Lab.Status.DRAFT)
    response = client.post(SUBMIT_URL, _upload(_right(grading_lab)))
    assert response.status_code == 404


# --- Following a submission -----------------------------------------------------------


def test_the_owner_follows_a_submission_from_queued_to_graded(
    client, trainee, grading_lab, queued, django_capture_on_commit_callbacks
):
    """GET answers the documented fields; after grading, the score and the
    feedback page's path."""
    with django_capture_on_commit_callbacks(execute=True):
        submission = _submit(trainee, grading_lab)
    client.force_login(trainee)
    response = client.get(_detail_url(submission))
    assert response.status_code == 200
    assert response.json() == {
        "id": submission.pk,
        "lab": "grading-lab",
        "status": "queued",
        "score": None,
        "max_score": None,
        "passed": None,
        "feedback_url": f"/en/grading/submissions/{submission.pk}/",
        "errors": [],
    }

    services.submission_autograde(submission_id=submission.pk)
    body = client.get(_detail_url(submission)).json()
    assert body["status"] == "graded"
    assert (body["score"], body["max_score"]) == (4.0, 5.0)
    assert body["passed"] is None  # the free-response cell waits for an instructor
    assert body["errors"] == []


def test_an_errored_submission_reports_its_reason(client, trainee, grading_lab, queued):
    """``errors`` holds the first line of the reason grading ended in error."""
    submission = _submit(trainee, grading_lab)
    services.submission_fail(
        submission_id=submission.pk,
        reason="Grading could not run: the sandbox is missing\nTraceback (most…",
    )
    client.force_login(trainee)
    body = client.get(_detail_url(submission)).json()
    assert body["status"] == "error"
    assert body["errors"] == ["Grading could not run: the sandbox is missing"]


def test_others_cannot_see_a_submission_but_instructors_can(
    client, trainee, other_trainee, instructor, employer, grading_lab, queued
):
    """Another trainee, an employer or an instructor who does not teach the lab
    gets 404 (not 403: the id reveals nothing); the lab's instructor sees it;
    anonymous callers get 401."""
    submission = _submit(trainee, grading_lab)
    assert client.get(_detail_url(submission)).status_code == 401
    for user in (other_trainee, employer, UserFactory(role="instructor")):
        client.force_login(user)
        assert client.get(_detail_url(submission)).status_code == 404
    client.force_login(instructor)
    response = client.get(_detail_url(submission))
    assert response.status_code == 200
    assert response.json()["id"] == submission.pk
    assert client.get("/api/v1/submissions/999999").status_code == 404


def test_the_api_never_returns_hidden_test_source(client, trainee, grading_lab, queued):
    """A wrong answer fails the hidden test; the answer names no test source."""
    wrong = {**RIGHT, "mean": "def mean(values):\n    return 0"}
    submission = _submit(
        trainee, grading_lab, as_bytes(notebook_with(grading_lab, wrong))
    )
    graded = services.submission_autograde(submission_id=submission.pk)
    assert graded.cells.get(grade_id="mean_tests").feedback["outcome"] == (
        "failed_hidden"
    )
    client.force_login(trainee)
    response = client.get(_detail_url(submission))
    assert response.json()["status"] == "graded"
    assert HIDDEN_LINE not in response.content.decode()


def test_the_schema_documents_the_submission_endpoints(client):
    """Both endpoints appear in /api/v1/openapi.json."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/labs/{slug}/submissions" in paths
    assert "/api/v1/submissions/{submission_id}" in paths
