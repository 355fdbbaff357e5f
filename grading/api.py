"""Lab submissions in the JSON API: hand a notebook in, follow its grading."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy
from ninja import File, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from grading import selectors, services
from grading.models import Submission
from labs.api import unavailable
from labs.models import Lab
from lms.accounts.api import api_auth
from lms.accounts.models import Role
from lms.accounts.permissions import has_role

router = Router(tags=["grading"])


class SubmissionCreated(Schema):
    id: int
    status: str


class SubmissionOut(Schema):
    id: int
    lab: str
    status: str
    score: float | None
    max_score: float | None
    passed: bool | None
    feedback_url: str
    errors: list[str]


class ErrorOut(Schema):
    detail: str


NO_NOTEBOOK_PART = gettext_lazy(
    "The request has no notebook file. Send the .ipynb as the form part "
    "'notebook', with its file name; to submit the notebook saved in your lab, "
    "send no body."
)


def _body_is_empty(request: HttpRequest) -> bool:
    """No body at all. Django's parser drops a file part whose file name cleans to
    nothing ('.', control characters), so an upload can reach the view as no file:
    only an empty body means "the notebook saved in my lab"."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    return length == 0 and "HTTP_TRANSFER_ENCODING" not in request.META


@router.post(
    "/labs/{slug}/submissions",
    response={
        201: SubmissionCreated,
        400: ErrorOut,
        403: ErrorOut,
        503: ErrorOut,
        507: ErrorOut,
    },
    auth=api_auth,
)
def submission_create(
    request: HttpRequest, slug: str, notebook: File[UploadedFile | None] = None
):
    """Submit the lab: the uploaded ``notebook`` (.ipynb), or, with no body at
    all, the notebook saved in the caller's running lab. A body without the
    ``notebook`` file (an empty form included) is refused (400), never taken as
    "from the lab". Grading is queued; follow it with ``GET /submissions/{id}`` or the
    ``feedback_url`` page. 507: the site's storage is full; nothing was stored, try
    again later."""
    if not has_role(request.user, Role.TRAINEE):
        raise HttpError(403, "Only trainees submit labs.")
    lab = get_object_or_404(Lab, slug=slug, status=Lab.Status.PUBLISHED)
    if notebook is None and not _body_is_empty(request):
        raise HttpError(400, str(NO_NOTEBOOK_PART))
    try:
        data = selectors.upload_read(upload=notebook) if notebook is not None else None
        submission = services.submission_create(
            user=request.user, lab=lab, data=data, source=Submission.Source.UPLOAD
        )
    except services.SubmissionUnavailable as error:
        return unavailable(str(error))
    except services.SubmissionStorageFull as error:  # ours, not the caller's: retry
        raise HttpError(507, str(error)) from None
    except services.SubmissionError as error:
        raise HttpError(400, str(error)) from None
    return Status(201, {"id": submission.pk, "status": submission.status})


@router.get("/submissions/{submission_id}", response=SubmissionOut, auth=api_auth)
def submission_detail(request: HttpRequest, submission_id: int):
    """One submission's grading state: the caller's own, or for instructors one
    to a lab of the programmes they teach (any other is a 404)."""
    submission = selectors.submission_visible(
        user=request.user, submission_id=submission_id
    )
    if submission is None:
        raise HttpError(404, "Not Found")
    state = services.submission_state(submission)
    return {
        "id": state["id"],
        "lab": state["lab"],
        "status": state["status"],
        "score": state["score"],
        "max_score": state["max_score"],
        "passed": state["passed"],
        "feedback_url": reverse("grading:submission_feedback", args=[submission.pk]),
        "errors": selectors.submission_errors(submission=submission),
    }
