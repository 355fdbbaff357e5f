"""Submitting and grading lab notebooks: every write goes through here.

The flow: ``submission_create`` checks the notebook, stores it (file, sha256, row)
and queues ``grading.submission_autograde`` after commit; the worker calls
``submission_autograde``, which claims the submission (so a duplicate or
redelivered message never grades it twice), grades it in the sandbox, and writes
the cells' points and feedback here. Our database is the gradebook.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import socket
from datetime import timedelta
from decimal import Decimal

import psutil
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from grading import feedback
from grading.models import CellGrade, Submission
from grading.notebooks import (
    NotebookInvalid,
    notebook_bytes,
    notebook_check,
    notebook_mend,
)
from grading.tallies import lab_trainee_refresh
from labs import hub
from labs.models import Lab
from lms.accounts.events import group_send_on_commit, user_notify_on_commit
from lms.accounts.models import User
from lms.accounts.readerstate import reader_state_bump

log = logging.getLogger(__name__)

# Sent after commit when a submission's score changes (graded, regraded, manual).
submission_graded = Signal()


class SubmissionError(Exception):
    """A submission that cannot be accepted; ``str()`` is fit for the trainee."""


class SubmissionUnavailable(SubmissionError):
    """The notebook could not be fetched because the lab service is down."""


class SubmissionStorageFull(SubmissionError):
    """The notebook could not be stored because the media storage is full."""


class GradingInfraError(Exception):
    """Grading could not run for a reason that is not the trainee's: worth a retry.

    ``str()`` is one of our own short phrases, safe to store where the trainee
    reads it (never the notebook's content, which holds the hidden tests); the
    technical details go to the worker's log only.
    """


def gradebook_group(lab_id: int) -> str:
    return f"gradebook-{lab_id}"


# --- Submitting -----------------------------------------------------------------------


def attempts_used(*, user: User, lab: Lab) -> int:
    """Submissions that count: one that failed for our reasons (error) does not."""
    return (
        Submission.objects.filter(user=user, lab=lab)
        .exclude(status=Submission.Status.ERROR)
        .count()
    )


def submission_open_check(*, user: User, lab: Lab) -> None:
    """Raise ``SubmissionError`` if ``user`` may not submit ``lab`` now."""
    if lab.status != Lab.Status.PUBLISHED:
        raise SubmissionError(_("This lab is not open for submissions."))
    if lab.closes_at and timezone.now() > lab.closes_at:
        raise SubmissionError(
            _("Submissions for this lab closed on %(date)s.")
            % {"date": timezone.localtime(lab.closes_at).strftime("%Y-%m-%d %H:%M %Z")}
        )
    if attempts_used(user=user, lab=lab) >= lab.max_attempts:
        raise SubmissionError(
            _("You have used all %(count)s attempts for this lab.")
            % {"count": lab.max_attempts}
        )


def notebook_from_lab(*, user: User, lab: Lab) -> bytes:
    """The trainee's notebook of ``lab``, as saved in their running lab server."""
    try:
        notebook = hub.contents_get_notebook(
            hub.hub_username(user.pk), f"{lab.slug}/{lab.notebook}"
        )
    except hub.HubError as error:
        kind = (
            SubmissionUnavailable
            if isinstance(error, hub.HubUnavailable)
            else SubmissionError
        )
        raise kind(
            _(
                "Could not fetch your notebook from your lab (%(reason)s). Open the "
                "lab, save the notebook and try again, or upload the .ipynb file."
            )
            % {"reason": error}
        ) from error
    return notebook_bytes(notebook)


def submission_create(
    *, user: User, lab: Lab, data: bytes | None, source: str = Submission.Source.UPLOAD
) -> Submission:
    """Check, store and queue one submission. ``data`` None: take it from the lab."""
    submission_open_check(user=user, lab=lab)
    if data is None:
        data, source = notebook_from_lab(user=user, lab=lab), Submission.Source.LAB
    try:
        notebook_check(lab=lab, data=data)
    except NotebookInvalid as error:
        raise SubmissionError(str(error)) from error
    digest = hashlib.sha256(data).hexdigest()
    for _try in range(3):
        try:
            with transaction.atomic():
                submission = _submission_store(
                    user=user, lab=lab, data=data, digest=digest, source=source
                )
            break
        except IntegrityError:  # two submissions at once took the same number
            continue
    else:
        raise SubmissionError(
            _("Please try again: another submission was being saved.")
        )
    return submission


def _submission_store(
    *, user: User, lab: Lab, data: bytes, digest: str, source: str
) -> Submission:
    # Lock the trainee's row so attempts are counted one submission at a time.
    User.objects.select_for_update().filter(pk=user.pk).first()
    submission_open_check(user=user, lab=lab)
    attempt = Submission.objects.filter(user=user, lab=lab).count() + 1
    submission = Submission(
        user=user,
        lab=lab,
        attempt=attempt,
        sha256=digest,
        size=len(data),
        source=source,
        lab_version=lab.version,
    )
    name = f"{lab.slug}-u{user.pk}-a{attempt}-{digest[:12]}.ipynb"
    _notebook_save(submission, name, data)
    try:
        submission.save()
    except BaseException:
        submission.notebook.delete(save=False)  # no file without its row
        raise
    transaction.on_commit(lambda: _queue(submission.pk))
    _announce(submission)
    return submission


def _notebook_save(submission: Submission, name: str, data: bytes) -> None:
    """Write the notebook's file, whole or not at all: a write that fails (the
    storage is full) leaves no partial file, and a full storage is told to the
    trainee as such (the transaction around it then stores no row either)."""
    field, storage = submission.notebook.field, submission.notebook.storage
    target = storage.get_available_name(
        field.generate_filename(submission, name), max_length=field.max_length
    )
    try:
        submission.notebook.save(name, ContentFile(data), save=False)
    except OSError as error:
        # The storage picks the same free name it was just asked for.
        for partial in {target, submission.notebook.name or target}:
            try:
                storage.delete(partial)
            except OSError:
                log.exception("Could not remove the partial file %s.", partial)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("Submission refused: the media storage is full (%s).", error)
            raise SubmissionStorageFull(
                _(
                    "Your notebook could not be stored because our storage is full. "
                    "Nothing was submitted and no attempt was used; please try "
                    "again later."
                )
            ) from error
        raise


def _queue(submission_id: int) -> None:
    """Send the grading message. A broker that cannot take it (Redis restarting)
    is logged, never raised into the request whose submission is already stored:
    the row is marked ``unsent`` and the sweeper (beat, and every worker as it
    starts) sends it again."""
    from grading.tasks import submission_autograde

    try:
        submission_autograde.delay(submission_id)
    except Exception as error:  # noqa: BLE001 - kombu and redis raise many kinds
        log.warning(
            "Submission %s stored but not queued (broker unreachable: %s); the "
            "sweeper will queue it.",
            submission_id,
            error,
        )
        Submission.objects.filter(pk=submission_id).update(unsent=True)


# --- Live state -----------------------------------------------------------------------


def submission_state(submission: Submission) -> dict:
    """The JSON a page (or the API) shows for a submission."""
    return {
        "id": submission.pk,
        "lab": submission.lab.slug,
        "attempt": submission.attempt,
        "status": submission.status,
        "score": float(submission.score) if submission.score is not None else None,
        "max_score": (
            float(submission.max_score) if submission.max_score is not None else None
        ),
        "passed": submission.passed,
        "needs_manual_grade": submission.needs_manual_grade,
        "user": submission.user_id,
    }


def _announce(submission: Submission) -> None:
    data = {"kind": "submission", **submission_state(submission)}
    user_notify_on_commit(user_id=submission.user_id, data=data)
    group_send_on_commit(
        group=gradebook_group(submission.lab_id), event_type="submission", data=data
    )


# --- Grading --------------------------------------------------------------------------


_started: dict[int, str] = {}


def _process_started(process: psutil.Process) -> str:
    return f"{process.create_time():.2f}"


def _me() -> str:
    """This process as a grader: ``host:pid:start time``. The start time tells a
    dead grader from a new process that was given the same pid."""
    pid = os.getpid()
    if pid not in _started:  # a forked pool process is asked again
        _started[pid] = _process_started(psutil.Process(pid))
    return f"{socket.gethostname()}:{pid}:{_started[pid]}"


def _grader_split(grader: str) -> tuple[str, str]:
    """(process, task id) of a ``grader`` value ``host:pid:start[/task]``."""
    process, _sep, task = grader.partition("/")
    return process, task


def _grader_gone(grader: str) -> bool:
    """The grader process is known to be dead (this host only): no process has its
    pid, or the one that has it is a zombie or started at another time."""
    process, _task = _grader_split(grader)
    host, pid, started = ([*process.split(":"), ""])[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if process == _me():
        return False
    try:
        found = psutil.Process(int(pid))
        if found.status() == psutil.STATUS_ZOMBIE:
            return True
        return bool(started) and _process_started(found) != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # cannot tell: not known to be dead
        return False


def submission_claim(
    *, submission_id: int, task_id: str | None = None
) -> Submission | None:
    """Take ``submission_id`` for grading in this process, or None if not ours to grade.

    Queued submissions are claimed; one "grading" is taken over only by this
    process, by a retry of the task that claimed it (an infrastructure or
    database error interrupted it, in whichever pool process), or when its grader
    is known dead or it is stuck past ``GRADING_STUCK_AFTER``. Graded and errored
    submissions are never claimed: a duplicate message is a no-op.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GRADING_STUCK_AFTER)
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().filter(pk=submission_id).first()
        )
        if submission is None:
            return None
        grading = submission.status == Submission.Status.GRADING
        process, task = _grader_split(submission.grader)
        takeover = grading and (
            process == _me()
            or bool(task_id and task == task_id)
            or _grader_gone(submission.grader)
            or (submission.grading_started_at or now) < stale
        )
        if submission.status != Submission.Status.QUEUED and not takeover:
            return None
        if submission.deliveries >= settings.GRADING_MAX_DELIVERIES:
            _error(
                submission,
                _("Grading failed %(n)s times; an instructor can regrade it.")
                % {"n": submission.deliveries},
            )
            return None
        Submission.objects.filter(pk=submission.pk).update(
            status=Submission.Status.GRADING,
            deliveries=F("deliveries") + 1,
            grading_started_at=now,
            grader=f"{_me()}/{task_id}" if task_id else _me(),
            unsent=False,
        )
        lab_trainee_refresh(lab_id=submission.lab_id, user_id=submission.user_id)
        reader_state_bump(user_ids=[submission.user_id])
        submission.refresh_from_db()
        _announce(submission)
    return submission


def _error(submission: Submission, reason: str) -> None:
    submission.status = Submission.Status.ERROR
    submission.error = reason
    submission.grader = ""
    submission.save(update_fields=["status", "error", "grader"])
    _announce(submission)


def submission_autograde(
    *, submission_id: int, task_id: str | None = None
) -> Submission | None:
    """Grade one submission, exactly once. Infrastructure failures raise
    ``GradingInfraError`` (the task retries); the trainee's code failing in any way
    is a grade, not an error. A database error is raised as it is (the task
    retries it too): the claim stays with ``task_id``, whose retry takes it over."""
    from grading.nbgrader import (
        NbgraderError,
        submission_grade,
        template_cells,
        template_ensure,
    )
    from grading.sandbox import SandboxError

    submission = submission_claim(submission_id=submission_id, task_id=task_id)
    if submission is None:
        return None
    lab = submission.lab
    try:
        with submission.notebook.open("rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != submission.sha256:
            _error(submission, _("The stored notebook does not match its checksum."))
            return submission
        notebook, restored = notebook_mend(
            lab=lab, notebook=notebook_check(lab=lab, data=data)
        )
        grading = submission_grade(
            lab=lab,
            notebook=notebook_bytes(notebook),
            name=f"submission-{submission.pk}",
        )
        cells = template_cells(template_ensure(lab))
    except NotebookInvalid as error:  # the lab changed under a stored submission
        _error(submission, str(error))
        return submission
    except (OSError, SandboxError, NbgraderError) as error:
        _release(submission)
        reason = (
            "the grading sandbox could not be set up"
            if isinstance(error, SandboxError)
            else "the lab's grading files could not be prepared"
        )
        log.exception("Submission %s: %s.", submission.pk, reason)
        raise GradingInfraError(reason) from error
    if not grading.ok:
        _release(submission)
        log.error(
            "Submission %s: nbgrader failed (cells ran: %s): %s",
            submission.pk,
            grading.started,
            grading.error[-4000:],
        )
        raise GradingInfraError(
            "the Python kernel did not start"
            if "KernelStartError" in grading.error + grading.log
            else "nbgrader failed"
        )
    return _grades_save(submission, grading, cells, restored)


def _release(submission: Submission) -> None:
    """Hand a claimed submission back to the queue (for the task's retry)."""
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk, grader=submission.grader).update(
            status=Submission.Status.QUEUED, grader="", queued_at=timezone.now()
        )
        lab_trainee_refresh(lab_id=submission.lab_id, user_id=submission.user_id)
    reader_state_bump(user_ids=[submission.user_id])


def submission_fail(*, submission_id: int, reason: str) -> None:
    """The last word when retries ran out: ``error``, with the reason."""
    with transaction.atomic():
        submission = (
            Submission.objects.select_for_update().filter(pk=submission_id).first()
        )
        if submission and submission.status in (
            Submission.Status.QUEUED,
            Submission.Status.GRADING,
        ):
            _error(submission, reason[:2000])


def _cell_outcome(cell, outcome, hidden_lines: list[str]):
    """(outcome code, points, error text) of one graded cell, fit for the trainee.

    A failure raised at a hidden test line shows only the error's name; every other
    error text is filtered for hidden test lines anyway.
    """
    from grading import executor

    if outcome is None:
        return "not_run", Decimal("0"), ""
    if outcome.points is None:
        return "pending", None, ""
    points = Decimal(str(outcome.points))
    if cell.kind == CellGrade.Kind.MANUAL:  # scored without an instructor: blank
        return "unanswered", points, ""
    name = outcome.error_name
    special = {
        executor.NOT_RUN: "not_run",
        "JobTimeLimit": "not_run",
        executor.KERNEL_DIED: "kernel_died",
        executor.CELL_TIMEOUT: "timeout",
        executor.GUARD_FAILED: "guard",
    }
    if name in special:
        return special[name], points, ""
    if not name and points >= Decimal(str(outcome.max_points)):
        return "passed", points, ""
    if outcome.error_hidden:
        return "failed_hidden", points, name[:100]
    error_text = feedback.error_summary(
        name, outcome.error_value, hidden_lines=hidden_lines
    )
    return "failed", points, error_text


@transaction.atomic
def _grades_save(submission, grading, cells, restored) -> Submission:
    claimed = submission.grader
    submission = Submission.objects.select_for_update().get(pk=submission.pk)
    if submission.status != Submission.Status.GRADING or submission.grader != claimed:
        return submission  # someone else took it over meanwhile: theirs counts
    outcomes = {o.grade_id: o for o in grading.cells}
    manual_kept = {
        c.grade_id: c
        for c in submission.cells.filter(
            kind=CellGrade.Kind.MANUAL, graded_by__isnull=False
        )
    }
    submission.cells.all().delete()
    for cell in cells.graded:
        outcome = outcomes.get(cell.grade_id)
        code, points, error_text = _cell_outcome(cell, outcome, cells.hidden_lines)
        kept = manual_kept.get(cell.grade_id)
        grade = CellGrade(
            submission=submission,
            grade_id=cell.grade_id,
            position=cell.position,
            kind=cell.kind,
            points=points,
            max_points=Decimal(str(cell.points)),
            hidden=cell.hidden,
            feedback={"outcome": code, "error": error_text},
        )
        if kept is not None:
            grade.points, grade.comment, grade.graded_by = (
                kept.points,
                kept.comment,
                kept.graded_by,
            )
            grade.feedback = {"outcome": "graded", "error": ""}
        grade.save()
    notes = []
    if grading.timed_out:
        notes.append(
            {
                "code": "cell_timeout",
                "params": {
                    "seconds": settings.GRADING_CELL_TIMEOUT,
                    "cells": ", ".join(grading.timed_out),
                },
            }
        )
    if grading.kernel_died:
        notes.append({"code": "kernel_died", "params": {}})
    if grading.kernel_stuck:
        notes.append({"code": "kernel_stuck", "params": {"cell": grading.kernel_stuck}})
    if grading.job_time_exceeded:
        notes.append(
            {"code": "job_time", "params": {"seconds": settings.GRADING_JOB_TIMEOUT}}
        )
    if grading.guard_failed:
        notes.append(
            {
                "code": "guard_failed",
                "params": {"cells": ", ".join(grading.guard_failed)},
            }
        )
    if grading.output_truncated:
        notes.append(
            {
                "code": "output_truncated",
                "params": {"kb": settings.GRADING_MAX_OUTPUT_KB},
            }
        )
    if restored:
        notes.append(
            {"code": "cells_restored", "params": {"cells": ", ".join(restored)}}
        )
    submission.notes = notes
    submission.seconds = grading.seconds
    submission.status = Submission.Status.GRADED
    submission.graded_at = timezone.now()
    submission.error = ""
    submission.grader = ""
    _totals_update(submission)
    return submission


def _totals_update(submission: Submission) -> None:
    """Recompute score, maximum, pass and pending manual grading; save; announce."""
    grades = list(submission.cells.all())
    submission.max_score = sum((g.max_points for g in grades), Decimal("0"))
    submission.score = sum(
        (g.points for g in grades if g.points is not None), Decimal("0")
    )
    submission.needs_manual_grade = any(g.points is None for g in grades)
    if submission.needs_manual_grade:
        submission.notes = [
            n for n in submission.notes if n.get("code") != "manual_pending"
        ]
        submission.notes.append({"code": "manual_pending", "params": {}})
        submission.passed = None
    else:
        submission.notes = [
            n for n in submission.notes if n.get("code") != "manual_pending"
        ]
        threshold = submission.max_score * Decimal(submission.lab.pass_mark) / 100
        submission.passed = submission.max_score > 0 and submission.score >= threshold
    submission.save()
    _announce(submission)
    if submission.status == Submission.Status.GRADED:
        transaction.on_commit(
            lambda: submission_graded.send(sender=Submission, submission=submission)
        )


# --- Instructors ----------------------------------------------------------------------


def submission_grade_manual(
    *,
    submission: Submission,
    grade_id: str,
    points: Decimal,
    comment: str,
    grader: User,
) -> Submission:
    """An instructor's score and comment for one cell; the total follows."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.status != Submission.Status.GRADED:
            raise SubmissionError(_("Only a graded submission can be graded by hand."))
        cell = submission.cells.filter(grade_id=grade_id).first()
        if cell is None:
            raise SubmissionError(
                _("This notebook has no graded cell “%(id)s”.") % {"id": grade_id}
            )
        if not (Decimal("0") <= points <= cell.max_points):
            raise SubmissionError(
                _("Points must be between 0 and %(max)s.") % {"max": cell.max_points}
            )
        cell.points, cell.comment, cell.graded_by = points, comment, grader
        cell.feedback = {**cell.feedback, "outcome": "graded"}
        cell.save()
        _totals_update(submission)
        user_notify_on_commit(
            user_id=submission.user_id,
            data={"kind": "manual_grade", **submission_state(submission)},
        )
    return submission


def submission_regrade(*, submission: Submission) -> Submission:
    """Grade again (e.g. after a test was fixed); manual grades are kept."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.status == Submission.Status.GRADING:
            raise SubmissionError(_("This submission is being graded right now."))
        submission.status = Submission.Status.QUEUED
        submission.deliveries = 0
        submission.error = ""
        submission.grader = ""
        submission.queued_at = timezone.now()
        submission.save(
            update_fields=["status", "deliveries", "error", "grader", "queued_at"]
        )
        transaction.on_commit(lambda: _queue(submission.pk))
        _announce(submission)
    return submission


def lab_regrade(*, lab: Lab) -> int:
    """Regrade every submission of ``lab`` that is not already waiting; how many."""
    count = 0
    for submission in Submission.objects.filter(lab=lab).exclude(
        status__in=[Submission.Status.QUEUED, Submission.Status.GRADING]
    ):
        submission_regrade(submission=submission)
        count += 1
    return count


def submissions_requeue_stuck() -> int:
    """Queue again what a lost message or a dead worker left behind; how many.

    Run by beat every ``GRADING_SWEEP_SECONDS`` and by every worker as it starts:
    queued submissions whose message the broker never took (``unsent``) or that
    waited past ``GRADING_STUCK_AFTER``, and submissions being graded by a process
    of this host that is dead (at once) or for longer than that. Each is put back
    by compare-and-set on the state it was found in, so two sweepers running at
    once queue it once.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.GRADING_STUCK_AFTER)
    found = Submission.objects.filter(
        Q(status=Submission.Status.QUEUED, unsent=True)
        | Q(status=Submission.Status.QUEUED, queued_at__lt=stale)
        | Q(status=Submission.Status.GRADING)
    ).only(
        "pk",
        "user_id",
        "lab_id",
        "status",
        "queued_at",
        "grading_started_at",
        "grader",
        "deliveries",
    )
    count = 0
    for submission in found:
        if submission.status == Submission.Status.GRADING and not (
            _grader_gone(submission.grader)
            or (submission.grading_started_at or now) < stale
        ):
            continue  # a live grading
        if submission.deliveries >= settings.GRADING_MAX_DELIVERIES:
            submission_fail(
                submission_id=submission.pk,
                reason=_("Grading failed %(n)s times; an instructor can regrade it.")
                % {"n": submission.deliveries},
            )
            continue
        with transaction.atomic():
            taken = Submission.objects.filter(
                pk=submission.pk,
                status=submission.status,
                queued_at=submission.queued_at,
                grader=submission.grader,
            ).update(
                status=Submission.Status.QUEUED, grader="", queued_at=now, unsent=False
            )
            if taken:
                lab_trainee_refresh(
                    lab_id=submission.lab_id, user_id=submission.user_id
                )
        if not taken:  # another sweeper, or a worker, got there first
            continue
        reader_state_bump(user_ids=[submission.user_id])
        _queue(submission.pk)
        count += 1
    if count:
        log.warning("Re-queued %s stuck submissions.", count)
    return count
