"""The gradebook's derived rows: one ``LabTrainee`` per trainee and lab, one
``LabTally`` per lab.

Both are kept right in the transaction that writes a submission: every write of a
``Submission`` (its ``save()`` and ``delete()`` through signals, the services'
``update()`` calls explicitly) ends in ``lab_trainee_refresh``, which recomputes
the trainee's line from their own submissions of the lab (a handful of rows) and
moves the lab's counts by the difference. The gradebook then reads one indexed
row per trainee, and one row per lab, however many submissions there are.

``tallies_rebuild`` recomputes everything from the submissions, for data loaded
in bulk (``bulk_create`` sends no signal) and for the migration that adds them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.apps import apps as global_apps
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest, Lower, NullIf

log = logging.getLogger(__name__)

COUNTS = ("queued", "grading", "graded", "error", "awaiting")
PERCENT_PLACES = Decimal("0.0001")
# The gradebook's rank of a latest submission's state: the work still to do first.
RANK_ERROR, RANK_QUEUED, RANK_GRADING, RANK_MANUAL, RANK_GRADED = range(5)
RANK_NOT_SUBMITTED = 5
_RANKS = {"error": RANK_ERROR, "queued": RANK_QUEUED, "grading": RANK_GRADING}
_FIELDS = ("pk", "attempt", "status", "score", "max_score", "needs_manual_grade")


def sort_name():
    """The expression a trainee is sorted by: display name, else username, lower."""
    return Lower(Coalesce(NullIf("display_name", Value("")), "username"))


def status_rank(status: str, needs_manual_grade: bool) -> int:
    if status == "graded":
        return RANK_MANUAL if needs_manual_grade else RANK_GRADED
    return _RANKS.get(status, RANK_NOT_SUBMITTED)


def percent(score: Decimal | None, max_score: Decimal | None) -> Decimal | None:
    if score is None or not max_score or max_score <= 0:
        return None
    return (score * 100 / max_score).quantize(PERCENT_PLACES)


def _line(submissions: list[dict]) -> dict:
    """A trainee's line from their submissions of one lab (newest attempt first)."""
    latest = submissions[0]
    counts = dict.fromkeys(COUNTS, 0)
    for row in submissions:
        counts[row["status"]] += 1
        if row["status"] == "graded" and row["needs_manual_grade"]:
            counts["awaiting"] += 1
    graded = [row["score"] for row in submissions if row["status"] == "graded"]
    scores = [score for score in graded if score is not None]
    return {
        "latest_id": latest["pk"],
        "status": latest["status"],
        "status_rank": status_rank(latest["status"], latest["needs_manual_grade"]),
        "percent": percent(latest["score"], latest["max_score"]),
        "submitted_at": latest["created_at"],
        "best_score": max(scores) if scores else None,
        "attempts": len(submissions),
        **counts,
    }


def lab_trainee_refresh(*, lab_id: int, user_id: int) -> None:
    """Recompute one trainee's line of one lab and move the lab's counts by the
    change; call it in (or it opens) the transaction that wrote the submission."""
    from grading.models import LabTrainee, Submission
    from lms.accounts.models import User

    with transaction.atomic():
        line = (
            LabTrainee.objects.select_for_update()
            .filter(lab_id=lab_id, user_id=user_id)
            .first()
        )
        rows = list(
            Submission.objects.filter(lab_id=lab_id, user_id=user_id)
            .order_by("-attempt")
            .values(*_FIELDS, "created_at")
        )
        old = {key: getattr(line, key) for key in COUNTS} if line else None
        # Fewer attempts than the line counted: one was deleted (an admin's act),
        # and the lab's latest submission may have been it.
        deleted = line is not None and len(rows) < line.attempts
        if not rows:
            if line is not None:
                line.delete()
                _tally_move(lab_id=lab_id, old=old, new=None, last=None)
                _last_recount(lab_id=lab_id)
            return
        new = _line(rows)
        if line is None:
            name = User.objects.filter(pk=user_id).values_list(sort_name())[0][0]
            try:
                with transaction.atomic():
                    LabTrainee.objects.create(
                        lab_id=lab_id, user_id=user_id, sort_name=name, **new
                    )
            except IntegrityError:  # created meanwhile by another transaction
                lab_trainee_refresh(lab_id=lab_id, user_id=user_id)
                return
        else:
            for key, value in new.items():
                setattr(line, key, value)
            line.save()
        _tally_move(
            lab_id=lab_id,
            old=old,
            new={key: new[key] for key in COUNTS},
            last=max(row["created_at"] for row in rows),
        )
        if deleted:
            _last_recount(lab_id=lab_id)


def _last_recount(*, lab_id: int) -> None:
    from grading.models import LabTally, Submission

    LabTally.objects.filter(lab_id=lab_id).update(
        last_submitted_at=Submission.objects.filter(lab_id=lab_id)
        .order_by("-created_at")
        .values("created_at")[:1]
    )


def _tally_move(
    *, lab_id: int, old: dict | None, new: dict | None, last: datetime | None
) -> None:
    from grading.models import LabTally

    changes = {}
    for key in COUNTS:
        delta = (new or {}).get(key, 0) - (old or {}).get(key, 0)
        if delta:
            changes[key] = F(key) + delta
    if (old is None) != (new is None):
        changes["trainees"] = F("trainees") + (1 if old is None else -1)
    if last is not None:
        changes["last_submitted_at"] = Greatest(
            Coalesce("last_submitted_at", Value(last)), Value(last)
        )
    if not changes:
        return
    LabTally.objects.bulk_create([LabTally(lab_id=lab_id)], ignore_conflicts=True)
    LabTally.objects.filter(lab_id=lab_id).update(**changes)


def lab_lines_rename(*, user_id: int) -> None:
    """A trainee's new name, in their gradebook lines."""
    from grading.models import LabTrainee
    from lms.accounts.models import User

    LabTrainee.objects.filter(user_id=user_id).update(
        sort_name=User.objects.filter(pk=user_id).values(name=sort_name())[:1]
    )


def tallies_rebuild(*, apps=global_apps, batch: int = 2000) -> int:
    """Every ``LabTrainee`` and ``LabTally`` again from the submissions, in one
    pass over them; how many lines. For bulk-loaded data and the migration."""
    Submission = apps.get_model("grading", "Submission")
    LabTrainee = apps.get_model("grading", "LabTrainee")
    LabTally = apps.get_model("grading", "LabTally")
    User = apps.get_model("accounts", "User")
    with transaction.atomic():
        LabTrainee.objects.all().delete()
        LabTally.objects.all().delete()
        rows = (
            Submission.objects.order_by("lab_id", "user_id", "-attempt")
            .values(*_FIELDS, "lab_id", "user_id", "created_at")
            .iterator(chunk_size=batch)
        )
        tallies: dict[int, dict] = {}
        pending: list = []
        count = 0
        for (lab_id, user_id), group in _grouped(rows):
            line = _line(group)
            tally = tallies.setdefault(
                lab_id,
                {"trainees": 0, "last_submitted_at": None, **dict.fromkeys(COUNTS, 0)},
            )
            tally["trainees"] += 1
            for key in COUNTS:
                tally[key] += line[key]
            last = max(row["created_at"] for row in group)
            if tally["last_submitted_at"] is None or last > tally["last_submitted_at"]:
                tally["last_submitted_at"] = last
            pending.append(LabTrainee(lab_id=lab_id, user_id=user_id, **line))
            if len(pending) >= batch:
                count += _lines_save(LabTrainee, User, pending)
                pending = []
        count += _lines_save(LabTrainee, User, pending)
        LabTally.objects.bulk_create(
            [LabTally(lab_id=lab_id, **tally) for lab_id, tally in tallies.items()],
            batch_size=batch,
        )
    return count


def _grouped(rows: Iterable[dict]) -> Iterable[tuple[tuple[int, int], list[dict]]]:
    key, group = None, []
    for row in rows:
        row_key = (row["lab_id"], row["user_id"])
        if row_key != key and group:
            yield key, group
            group = []
        key = row_key
        group.append(row)
    if group:
        yield key, group


def _lines_save(LabTrainee, User, lines: list) -> int:  # noqa: N803 - model classes
    names = dict(
        User.objects.filter(pk__in={line.user_id for line in lines})
        .annotate(name=sort_name())
        .values_list("pk", "name")
    )
    for line in lines:
        line.sort_name = names[line.user_id]
    LabTrainee.objects.bulk_create(lines)
    return len(lines)


def on_submission_change(sender, instance, **kwargs) -> None:
    """``post_save``/``post_delete`` of a submission: its trainee's line again."""
    lab_trainee_refresh(lab_id=instance.lab_id, user_id=instance.user_id)


def on_user_save(sender, instance, update_fields=None, **kwargs) -> None:
    """``post_save`` of a user: their lines follow a change of name (a login, which
    saves ``last_login`` alone, costs nothing)."""
    if kwargs.get("created") or kwargs.get("raw"):
        return
    if update_fields is not None and not {"display_name", "username"} & set(
        update_fields
    ):
        return
    lab_lines_rename(user_id=instance.pk)
