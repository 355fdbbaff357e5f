"""The instructor's gradebook: who may see it, the labs overview and queue state, one
lab's rows (filter, sort, pagination, CSV), "Regrade all", the admin entries."""

import csv
import io
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation

from courses.models import Enrolment
from grading import gradebook, views_instructor
from grading.models import Submission
from tests.courses.helpers import lab_opened_by, teacher_of
from tests.factories import UserFactory
from tests.grading.helpers import submission_stored

ROOT = Path(__file__).resolve().parents[2]

PAGES = [
    ("gradebook_index", False),
    ("gradebook_lab", True),
    ("gradebook_csv", True),
    ("gradebook_regrade", True),
]


def _url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(f"grading:{name}", args=args)


def _csv_rows(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def class_of_three(grading_lab, trainee, other_trainee):
    """Ann (two attempts: 2 then 4 of 5, best 4), Bob (error), Cy (queued)."""
    now = timezone.now()
    trainee.display_name, other_trainee.display_name = "Ann", "Bob"
    trainee.save()
    other_trainee.save()
    cy = UserFactory(role="trainee", display_name="Cy")
    submission_stored(
        trainee,
        grading_lab,
        attempt=1,
        score="2",
        passed=False,
        at=now - timedelta(hours=3),
    )
    submission_stored(
        trainee,
        grading_lab,
        attempt=2,
        score="4",
        passed=True,
        at=now - timedelta(hours=2),
    )
    submission_stored(
        other_trainee, grading_lab, status="error", at=now - timedelta(hours=1)
    )
    submission_stored(cy, grading_lab, status="queued", at=now)
    return {"ann": trainee, "bob": other_trainee, "cy": cy}


# --- Who may see it -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "per_lab"), PAGES)
def test_anonymous_visitors_are_sent_to_login(client, grading_lab, name, per_lab):
    """Every gradebook page sends an anonymous visitor to the login page."""
    response = client.get(_url(name, *([grading_lab.slug] if per_lab else [])))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(("name", "per_lab"), PAGES)
@pytest.mark.parametrize("role", ["trainee", "employer"])
def test_other_roles_are_forbidden(client, grading_lab, name, per_lab, role):
    """Trainees and employers get 403 on every gradebook page."""
    client.force_login(UserFactory(role=role))

    response = client.get(_url(name, *([grading_lab.slug] if per_lab else [])))

    assert response.status_code == 403


@pytest.mark.parametrize(("name", "per_lab"), PAGES)
def test_instructors_and_superusers_get_in(
    client, grading_lab, programme, name, per_lab
):
    """Instructors who teach the lab's programme and superusers (whatever their
    role) see every gradebook page."""
    url = _url(name, *([grading_lab.slug] if per_lab else []))
    for user in (
        teacher_of(programme),
        UserFactory(role="trainee", is_superuser=True, is_staff=True),
    ):
        client.force_login(user)
        assert client.get(url).status_code == 200


def test_a_trainee_cannot_regrade_a_lab(client, grading_lab, trainee, queued):
    """POST "Regrade all" as a trainee is refused and queues nothing."""
    submission_stored(trainee, grading_lab, score="4", passed=True)
    client.force_login(trainee)

    response = client.post(_url("gradebook_regrade", grading_lab.slug))

    assert response.status_code == 403
    assert queued == []


# --- The overview ---------------------------------------------------------------------


def test_index_counts_each_labs_submissions_and_the_queue(
    client, instructor, class_of_three, grading_lab, settings
):
    """The index lists each lab with its submissions by status and those awaiting
    manual grading; the queue shows waiting, stuck and errored submissions."""
    submission_stored(UserFactory(), grading_lab, score="4", manual=True)
    stale = timezone.now() - timedelta(seconds=settings.GRADING_STUCK_AFTER + 60)
    Submission.objects.filter(status="queued").update(queued_at=stale)
    client.force_login(instructor)

    response = client.get(_url("gradebook_index"))

    (summary,) = [s for s in response.context["summaries"] if s.lab == grading_lab]
    assert summary.counts == {"queued": 1, "grading": 0, "graded": 3, "error": 1}
    assert summary.awaiting_manual == 1
    assert summary.trainees == 4
    queue = response.context["queue"]
    assert (queue.queued, queue.grading, queue.stuck, queue.errors) == (1, 0, 1, 1)
    assert queue.oldest_queued_seconds >= settings.GRADING_STUCK_AFTER
    assert queue.workers is None  # not asked unless requested
    html = response.content.decode()
    assert _url("gradebook_lab", grading_lab.slug) in html
    assert "Ask the workers" in html


def test_index_lists_the_labs_in_pages(
    client, instructor, grading_lab, programme, monkeypatch
):
    """Labs are listed by slug in pages, each lab counted from its own
    submissions only."""
    from labs.models import Lab

    monkeypatch.setattr(views_instructor, "LABS_PER_PAGE", 2)
    for slug in ("a-lab", "b-lab", "z-lab"):
        lab = Lab.objects.create(slug=slug, title=slug, notebook="x.ipynb", points=5)
        lab_opened_by(programme=programme, slug=slug)
        submission_stored(UserFactory(), lab, score="4")
    submission_stored(UserFactory(), grading_lab, status="error")
    client.force_login(instructor)
    url = _url("gradebook_index")

    first = client.get(url)
    last = client.get(url, {"page": 2})

    assert [s.lab.slug for s in first.context["summaries"]] == ["a-lab", "b-lab"]
    assert [s.lab.slug for s in last.context["summaries"]] == ["grading-lab", "z-lab"]
    grading, z = last.context["summaries"]
    assert (grading.counts["error"], grading.counts["graded"]) == (1, 0)
    assert (z.counts["graded"], z.trainees) == (1, 1)
    assert "page=2" in first.content.decode()
    assert first.context["queue"].errors == 1  # the queue counts every lab


def test_index_asks_the_workers_on_request(client, instructor):
    """With ?workers=1 the page pings Celery for a second; with no worker running
    it says that none answered."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_index") + "?workers=1")

    assert response.context["queue"].workers == []
    assert "No worker answered" in response.content.decode()


def test_index_lists_the_workers_that_answer(client, instructor):
    """A real `celery worker` on the broker is named on the index when asked. (It
    consumes a queue of its own, so it never takes a real task.)"""
    name = f"gradebook-{os.getpid()}@test"
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lms",
            "worker",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            f"gradebook-test-{os.getpid()}",
            "-n",
            name,
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "lms.settings_test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client.force_login(instructor)
    try:
        workers: list[str] = []
        deadline = time.monotonic() + 60
        while name not in workers and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker stopped"
            response = client.get(_url("gradebook_index") + "?workers=1")
            workers = response.context["queue"].workers or []
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert name in workers
    assert name in response.content.decode()


# --- One lab --------------------------------------------------------------------------


def test_one_row_per_trainee_with_the_latest_submission(
    client, instructor, class_of_three, grading_lab
):
    """Each trainee has one row showing their latest attempt, how many attempts
    they made and their best graded score."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_lab", grading_lab.slug))

    rows = {row.user.display_name: row for row in response.context["rows"]}
    assert list(rows) == ["Ann", "Bob", "Cy"]  # by name
    assert (rows["Ann"].attempt, rows["Ann"].attempts) == (2, 2)
    assert (rows["Ann"].score, rows["Ann"].best_score) == (Decimal(4), Decimal(4))
    assert rows["Bob"].status == "error" and rows["Bob"].best_score is None
    assert rows["Cy"].status == "queued"
    html = response.content.decode()
    assert 'data-ws="/ws/gradebook/grading-lab/"' in html
    assert f'data-user="{class_of_three["ann"].pk}" data-attempt="2"' in html
    assert "grading/gradebook.js" in html


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Ann", "Bob", "Cy"]),
        ("-name", ["Cy", "Bob", "Ann"]),
        ("score", ["Ann", "Bob", "Cy"]),  # no score sorts last either way
        ("-submitted", ["Cy", "Bob", "Ann"]),
        ("submitted", ["Ann", "Bob", "Cy"]),
        ("status", ["Bob", "Cy", "Ann"]),  # error, queued, graded
    ],
)
def test_columns_sort(client, instructor, class_of_three, grading_lab, sort, expected):
    """Name, score, submission time and status sort both ways; empty values last."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_lab", grading_lab.slug), {"sort": sort})

    assert [r.user.display_name for r in response.context["rows"]] == expected


def test_score_sorts_by_percentage_highest_first(client, instructor, grading_lab):
    """Sorting by -score puts the highest percentage first."""
    for name, score in [("Low", "1"), ("High", "5"), ("Mid", "3")]:
        submission_stored(UserFactory(display_name=name), grading_lab, score=score)
    client.force_login(instructor)

    response = client.get(_url("gradebook_lab", grading_lab.slug), {"sort": "-score"})

    names = [r.user.display_name for r in response.context["rows"]]
    assert names == ["High", "Mid", "Low"]
    assert 'aria-sort="descending"' in response.content.decode()


def test_filters_by_status_and_name(client, instructor, class_of_three, grading_lab):
    """The status filter applies to the latest submission; the search matches
    names and email addresses."""
    client.force_login(instructor)
    url = _url("gradebook_lab", grading_lab.slug)

    by_status = client.get(url, {"status": "error"}).context["rows"]
    by_name = client.get(url, {"q": "an"}).context["rows"]
    by_email = client.get(url, {"q": class_of_three["cy"].email}).context["rows"]

    assert [r.user.display_name for r in by_status] == ["Bob"]
    assert [r.user.display_name for r in by_name] == ["Ann"]
    assert [r.user.display_name for r in by_email] == ["Cy"]


def test_awaiting_manual_filter(client, instructor, grading_lab, trainee):
    """ "Awaiting manual grading" lists trainees whose latest graded submission has
    a cell left for an instructor."""
    submission_stored(trainee, grading_lab, score="4", manual=True)
    submission_stored(UserFactory(), grading_lab, score="5", passed=True)
    client.force_login(instructor)

    response = client.get(_url("gradebook_lab", grading_lab.slug), {"status": "manual"})

    assert [r.user for r in response.context["rows"]] == [trainee]
    assert "Awaiting manual grading" in response.content.decode()


def test_cohort_filter_lists_the_cohort_including_who_has_not_submitted(
    client, instructor, class_of_three, grading_lab, programme
):
    """With a cohort, rows are that programme's active enrolments: those who did not
    submit appear as "Not submitted"; trainees outside it do not appear."""
    waiting = UserFactory(role="trainee", display_name="Dee")
    for user in (class_of_three["ann"], waiting):
        Enrolment.objects.create(user=user, programme=programme)
    client.force_login(instructor)
    url = _url("gradebook_lab", grading_lab.slug)

    everyone = client.get(url, {"cohort": programme.pk}).context["rows"]
    missing = client.get(url, {"cohort": programme.pk, "status": "none"})

    assert [r.user.display_name for r in everyone] == ["Ann", "Dee"]
    assert [r.user.display_name for r in missing.context["rows"]] == ["Dee"]
    assert "Not submitted" in missing.content.decode()


def test_unknown_filter_values_are_ignored(
    client, instructor, class_of_three, grading_lab
):
    """A bad cohort, status or sort in the URL shows the unfiltered page."""
    client.force_login(instructor)

    response = client.get(
        _url("gradebook_lab", grading_lab.slug),
        {"cohort": "nope", "status": "weird", "sort": "password"},
    )

    assert response.status_code == 200
    assert len(response.context["rows"]) == 3


def test_pages_keep_the_filters(client, instructor, grading_lab, monkeypatch):
    """Rows are paginated and the page links keep the filter and sort."""
    monkeypatch.setattr(views_instructor, "PER_PAGE", 2)
    for index in range(5):
        submission_stored(UserFactory(display_name=f"T{index}"), grading_lab, score="3")
    client.force_login(instructor)
    url = _url("gradebook_lab", grading_lab.slug)

    first = client.get(url, {"status": "graded", "sort": "-name"})
    last = client.get(url, {"status": "graded", "sort": "-name", "page": 3})

    assert [r.user.display_name for r in first.context["rows"]] == ["T4", "T3"]
    assert [r.user.display_name for r in last.context["rows"]] == ["T0"]
    assert "status=graded&amp;sort=-name&amp;page=2" in first.content.decode()


def test_empty_states(client, instructor, grading_lab):
    """A lab nobody submitted says so; filters that match nobody say that."""
    client.force_login(instructor)
    url = _url("gradebook_lab", grading_lab.slug)

    assert "Nobody has submitted this lab yet." in client.get(url).content.decode()
    html = client.get(url, {"q": "zzz"}).content.decode()
    assert "No trainees match these filters." in html


def test_csv_streams_the_same_filtered_rows(
    client, instructor, class_of_three, grading_lab
):
    """The CSV export streams every row the page's filters and sort select."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_csv", grading_lab.slug), {"sort": "-name"})
    errors = client.get(_url("gradebook_csv", grading_lab.slug), {"status": "error"})

    assert response["Content-Disposition"] == (
        'attachment; filename="gradebook-grading-lab.csv"'
    )
    rows = _csv_rows(response)
    assert [row["display_name"] for row in rows] == ["Cy", "Bob", "Ann"]
    assert [row["display_name"] for row in _csv_rows(errors)] == ["Bob"]
    ann = rows[2]
    assert ann["username"] == class_of_three["ann"].username
    assert (ann["attempts"], ann["latest_attempt"], ann["status"]) == (
        "2",
        "2",
        "graded",
    )
    assert (ann["score"], ann["max_score"], ann["percent"]) == ("4", "5", "80")
    assert (ann["passed"], ann["best_score"]) == ("true", "4")


def test_csv_export_streams_its_rows_in_bounded_memory(
    client, instructor, grading_lab, monkeypatch
):
    """The export writes rows as it reads them, a chunk at a time (on PostgreSQL
    through a server-side cursor): streaming 1,500 rows holds less than half the
    memory that reading the same rows into a list does."""
    import tracemalloc

    from django.db import connection

    from grading import tallies
    from lms.accounts.models import User

    monkeypatch.setattr(views_instructor, "CSV_CHUNK", 100)
    users = User.objects.bulk_create(
        User(username=f"bulk{n:04}", display_name=f"Bulk {n}", email=f"b{n}@x.test")
        for n in range(1500)
    )
    Submission.objects.bulk_create(
        Submission(
            user=user,
            lab=grading_lab,
            attempt=1,
            notebook=f"submissions/bulk-{user.pk}.ipynb",
            sha256="0" * 64,
            size=1,
            source=Submission.Source.UPLOAD,
            lab_version=1,
            status="graded",
            score=Decimal(3),
            max_score=Decimal(5),
        )
        for user in users
    )
    tallies.tallies_rebuild()  # bulk_create sends no signal
    client.force_login(instructor)
    response = client.get(_url("gradebook_csv", grading_lab.slug))
    assert isinstance(response, StreamingHttpResponse)

    tracemalloc.start()
    try:
        chunks = iter(response.streaming_content)
        received = [next(chunks), next(chunks)]  # the header and the first row
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_cursors")
                assert cursor.fetchone()[0] >= 1  # the rows' cursor, open
        received.extend(chunks)
        _size, streamed = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        listed = list(gradebook.gradebook_rows(lab=grading_lab))
        _size, in_list = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(received) == 1501 and len(listed) == 1500
    assert b"".join(received).decode().count("\r\n") == 1501
    assert streamed < in_list / 2, (streamed, in_list)


def test_csv_of_a_cohort_marks_who_has_not_submitted(
    client, instructor, grading_lab, programme
):
    """Cohort members without a submission are in the CSV with status "none"."""
    waiting = UserFactory(role="trainee")
    Enrolment.objects.create(user=waiting, programme=programme)
    client.force_login(instructor)

    rows = _csv_rows(
        client.get(_url("gradebook_csv", grading_lab.slug), {"cohort": programme.pk})
    )

    assert [(r["username"], r["status"], r["attempts"]) for r in rows] == [
        (waiting.username, "none", "0")
    ]


def test_csv_defuses_formulas_in_names(client, instructor, grading_lab):
    """A display name that a spreadsheet would run as a formula is quoted."""
    submission_stored(UserFactory(display_name="=HYPERLINK(1)"), grading_lab, score="1")
    client.force_login(instructor)

    rows = _csv_rows(client.get(_url("gradebook_csv", grading_lab.slug)))

    assert rows[0]["display_name"] == "'=HYPERLINK(1)"


# --- Regrade all ----------------------------------------------------------------------


def test_regrade_all_asks_first(
    client, instructor, class_of_three, grading_lab, queued
):
    """GET "Regrade all" shows how many submissions would be queued and changes
    nothing."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_regrade", grading_lab.slug))

    assert response.context["count"] == 3  # Cy's is already queued
    assert 'method="post"' in response.content.decode()
    assert queued == []
    assert Submission.objects.filter(status="queued").count() == 1


def test_regrade_all_queues_every_submission_not_already_waiting(
    client,
    instructor,
    class_of_three,
    grading_lab,
    queued,
    django_capture_on_commit_callbacks,
):
    """POST queues each graded or errored submission again and says how many."""
    client.force_login(instructor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("gradebook_regrade", grading_lab.slug), follow=True)

    assert len(queued) == 3
    assert (
        Submission.objects.filter(lab=grading_lab).exclude(status="queued").count() == 0
    )
    assert "3 submissions were queued for regrading" in response.content.decode()


# --- Selectors and admin --------------------------------------------------------------


def test_gradebook_rows_reads_a_page_in_a_fixed_number_of_queries(
    grading_lab, django_assert_num_queries
):
    """However many trainees, one page of rows is one query."""
    for index in range(12):
        submission_stored(UserFactory(display_name=f"T{index}"), grading_lab, score="3")

    with django_assert_num_queries(1):
        rows = [
            gradebook.gradebook_row(user)
            for user in gradebook.gradebook_rows(lab=grading_lab)[:10]
        ]

    assert len(rows) == 10


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200  # warm caches (content types, site)
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def _class_grows(lab, *, trainees: int, attempts: int) -> None:
    """More trainees, each with ``attempts`` graded submissions of four cells."""
    from grading.models import CellGrade

    for index in range(trainees):
        user = UserFactory(role="trainee", display_name=f"Grown {index}")
        for attempt in range(1, attempts + 1):
            submission = submission_stored(
                user, lab, attempt=attempt, score="3", manual=True
            )
            CellGrade.objects.bulk_create(
                CellGrade(
                    submission=submission,
                    grade_id=f"cell-{n}",
                    position=n,
                    kind="manual" if n == 3 else "auto",
                    points=Decimal(1),
                    max_points=Decimal(1),
                )
                for n in range(4)
            )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("gradebook_index", {}),
        ("gradebook_lab", {}),
        ("gradebook_lab", {"sort": "-score"}),
        ("gradebook_lab", {"status": "manual", "page": "2"}),
        ("gradebook_lab", {"cohort": "programme"}),
        ("gradebook_submission", {}),
        ("gradebook_regrade", {}),
    ],
)
def test_gradebook_pages_cost_the_same_queries_with_more_submissions(
    client, instructor, grading_lab, programme, monkeypatch, name, params
):
    """Each gradebook page runs as many queries with 2 trainees as with 14 trainees
    of 3 attempts each and more labs (pages of 5 rows)."""
    from labs.models import Lab

    monkeypatch.setattr(views_instructor, "PER_PAGE", 5)
    _class_grows(grading_lab, trainees=2, attempts=1)
    first = Submission.objects.filter(lab=grading_lab).earliest("pk")
    for user in Submission.objects.values_list("user", flat=True):
        Enrolment.objects.create(user_id=user, programme=programme)
    params = {k: programme.pk if v == "programme" else v for k, v in params.items()}
    if name == "gradebook_submission":
        url = _url(name, first.pk)
    else:
        url = _url(name, *([grading_lab.slug] if name != "gradebook_index" else []))
    url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    client.force_login(instructor)

    before = _queries(client, url)
    _class_grows(grading_lab, trainees=12, attempts=3)
    for index in range(3):
        other = Lab.objects.create(
            slug=f"other-{index}", title="Other", notebook="x.ipynb", points=5
        )
        _class_grows(other, trainees=2, attempts=2)
    for user in Submission.objects.values_list("user", flat=True).distinct():
        Enrolment.objects.get_or_create(user_id=user, programme=programme)
    after = _queries(client, url)

    assert after == before


def test_admin_lists_submissions_read_only(admin_client, grading_lab, trainee):
    """The Django admin lists submissions and shows one without an add button or
    editable fields."""
    submission = submission_stored(trainee, grading_lab, score="3")

    listing = admin_client.get("/django-admin/grading/submission/")
    change = admin_client.get(
        f"/django-admin/grading/submission/{submission.pk}/change/"
    )
    add = admin_client.get("/django-admin/grading/submission/add/")

    assert listing.status_code == 200 and str(trainee) in listing.content.decode()
    assert change.status_code == 200
    assert 'name="status"' not in change.content.decode()
    assert add.status_code == 403


def test_wagtail_menu_links_instructors_to_the_gradebook(client, instructor):
    """An instructor who authors in the Wagtail admin finds "Gradebook" in its menu."""
    from django.contrib.auth.models import Group

    instructor.groups.add(Group.objects.get(name="Editors"))
    client.force_login(instructor)

    html = client.get("/admin/").content.decode()

    assert "Gradebook" in html
    assert _url("gradebook_index") in html


# --- Teaching assignments -------------------------------------------------------------


def test_the_index_lists_only_the_labs_taught(client, grading_lab, programme):
    """An instructor of another programme does not find the grading lab on the
    index, and its pages and submissions are 404; the lab's own instructor finds
    it."""
    from courses.models import ProgrammePage

    submission = submission_stored(UserFactory(), grading_lab, score="4")
    elsewhere = (
        ProgrammePage.objects.filter(locale=programme.locale)
        .exclude(pk=programme.pk)
        .first()
    )
    client.force_login(teacher_of(elsewhere))

    index = client.get(_url("gradebook_index"))

    assert grading_lab not in [s.lab for s in index.context["summaries"]]
    assert _url("gradebook_lab", grading_lab.slug) not in index.content.decode()
    for name, arg in (
        ("gradebook_lab", grading_lab.slug),
        ("gradebook_csv", grading_lab.slug),
        ("gradebook_regrade", grading_lab.slug),
        ("gradebook_submission", submission.pk),
        ("gradebook_submission_notebook", submission.pk),
    ):
        assert client.get(_url(name, arg)).status_code == 404, name
    client.force_login(teacher_of(programme))
    index = client.get(_url("gradebook_index"))
    assert grading_lab in [s.lab for s in index.context["summaries"]]


def test_the_cohort_filter_offers_only_the_programmes_taught(
    client, instructor, grading_lab, programme
):
    """A lab's gradebook filters by the instructor's own cohorts only."""
    client.force_login(instructor)

    response = client.get(_url("gradebook_lab", grading_lab.slug))

    choices = response.context["form"].fields["cohort"].choices
    cohorts = [value for value, _label in choices]
    assert cohorts == ["", programme.pk]


def test_an_unassigned_instructor_is_told_whom_to_ask(client, grading_lab):
    """An instructor with no programme sees no lab and a message saying that an
    administrator must assign them programmes; the Wagtail menu has no gradebook."""
    from django.contrib.auth.models import Group

    user = UserFactory(role="instructor")
    user.groups.add(Group.objects.get(name="Editors"))
    client.force_login(user)

    response = client.get(_url("gradebook_index"))

    assert response.context["summaries"] == []
    assert "An administrator must assign you" in response.content.decode()
    assert _url("gradebook_index") not in client.get("/admin/").content.decode()
