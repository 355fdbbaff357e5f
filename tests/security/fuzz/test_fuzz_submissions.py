"""Fuzzing the lab submission upload: ``POST /api/v1/labs/<slug>/submissions``
(multipart field ``notebook``) and the trainee's upload form.

Properties, whatever the file, its name or the request around it: never a 5xx;
a refusal is a 400 (API) or the form's error with a message and leaves no row, no
file in MEDIA_ROOT and nothing queued; the lab's notebook is accepted once, stored
under our own name with its sha256 and queued once. Nothing is graded: the queue
is the recording ``queued`` fixture, and each example's writes are rolled back.
"""

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.http.multipartparser import MultiPartParser
from hypothesis import example, given
from hypothesis import strategies as st

from grading.models import Submission
from tests.grading.helpers import RIGHT, as_bytes, notebook_with
from tests.security.fuzz.strategies import (
    CONTENT_TYPES,
    DOCUMENT_EDITS,
    document_edited,
    fuzz,
    json_values,
    rolled_back,
)

SUBMIT_URL = "/api/v1/labs/grading-lab/submissions"
LAB_URL = "/en/grading/labs/grading-lab/submissions/"
LABS_DIR = Path(__file__).resolve().parents[3] / "labs" / "notebooks"

# Input validation explored: the PostgreSQL run of .ci/run leaves it to `make test`
# (the submission and verification tests there run on both engines).
pytestmark = pytest.mark.engine_free


FILENAMES = st.one_of(
    st.text(
        st.characters(blacklist_characters='"\r\n\\', blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(
        [
            "grading-lab.ipynb",
            "../../../etc/passwd",
            "..%2F..%2Fsettings.py",
            "/var/lib/x.ipynb",
            "C:\\Users\\x\\lab.ipynb",
            "a/../../b.ipynb",
            "&#46;&#46;/&#46;&#46;/x.ipynb",
            ".ipynb",
            "x" * 300 + ".ipynb",
            "实验.ipynb",
        ]
    ),
)
PART_TYPES = st.sampled_from(
    ["application/x-ipynb+json", "application/json", "text/plain", "image/png", ""]
)


@pytest.fixture
def uploads(settings, tmp_path, client, trainee, grading_lab, queued):
    """A signed-in trainee, media in a folder of the test's own, a 64 KB limit
    (so "too large" is cheap to reach) and no hub: nothing is fetched or graded."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SUBMISSION_MAX_BYTES = 64 * 1024
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"
    settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    client.force_login(trainee)
    return settings.MEDIA_ROOT


def multipart(fields: dict, filename: str, data: bytes, part_type: str):
    """A multipart body with the filename sent as it is (Django's test client
    would keep only its last path component)."""
    boundary = "fuzz-" + hashlib.sha256(data).hexdigest()[:16]
    chunks = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="notebook"; '
        f'filename="{filename}"\r\n'
    )
    if part_type:
        head += f"Content-Type: {part_type}\r\n"
    chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _files(media: Path) -> list[Path]:
    return (
        [path for path in media.rglob("*") if path.is_file()] if media.exists() else []
    )


@contextmanager
def one_upload(media: Path, queued: list, capture):
    """An example's submission, undone afterwards (row and file). Yields the
    on-commit callbacks it registered, run at the end as a commit would."""
    queued.clear()
    try:
        with rolled_back(), capture(execute=True) as callbacks:
            yield callbacks
    finally:
        for path in _files(media):
            path.unlink()


def kept_name(filename: str) -> bool:
    """Whether Django keeps an uploaded file of this name (else it drops the part)."""
    return MultiPartParser.sanitize_file_name(None, filename) is not None


def submit(client, via: str, data: bytes, filename: str, part_type: str):
    """Upload through the API or the trainee's form: (accepted, message, id)."""
    url = SUBMIT_URL if via == "api" else LAB_URL
    fields = {} if via == "api" else {"source": "upload"}
    body, content_type = multipart(fields, filename, data, part_type)
    response = client.generic("POST", url, body, content_type=content_type)
    if via == "api":
        # A part whose name Django drops reaches the view as no file: refused (400),
        # never taken as "submit the notebook saved in my lab".
        assert response.status_code in (201, 400), response.content[:300]
        if not kept_name(filename):
            # Either the view says so, or, when Django's parser reads the dropped
            # part's contents as the next part's headers, the parser's refusal.
            assert response.status_code == 400
            assert any(
                text in response.json()["detail"]
                for text in ("has no notebook file", "cannot be read as a form upload")
            )
        answer = response.json()
        if response.status_code == 201:
            assert answer == {"id": answer["id"], "status": "queued"}
            return True, "", answer["id"]
        assert set(answer) == {"detail"}
        return False, answer["detail"], None
    if response.status_code == 400 and not kept_name(filename):
        # Django's parser read the dropped part's contents as headers and gave up:
        # the 400 page, nothing kept.
        message = response.content.decode()
        assert "The request could not be read" in message
        return False, message, None
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
        assert response["Location"] == f"/en/grading/submissions/{pk}/"
        return True, "", pk
    errors = response.context["form"].errors.get("notebook") or []
    message = " ".join(errors) or response.context["submit_error"]
    return False, message, None


def check_stored(media, accepted, message, pk, data) -> None:
    """Accepted: one row with the file's sha256, its bytes stored under our own
    name inside MEDIA_ROOT/submissions. Refused: a message, no row, no file."""
    if not accepted:
        assert message.strip()
        assert not Submission.objects.exists() and _files(media) == []
        return
    submission = Submission.objects.get()
    assert submission.pk == pk
    assert submission.sha256 == hashlib.sha256(data).hexdigest()
    assert submission.size == len(data)
    (stored,) = _files(media)
    assert stored.read_bytes() == data
    assert stored.resolve().is_relative_to((media / "submissions").resolve())
    assert stored.name.startswith(f"grading-lab-u{submission.user_id}-a1-")


def check_queued(queued, callbacks, accepted, pk) -> None:
    """Queued once after commit when accepted; nothing at all when refused."""
    assert queued == ([pk] if accepted else [])
    if not accepted:
        assert callbacks == []


def _valid(lab, answers: dict) -> bytes:
    return as_bytes(notebook_with(lab, {**RIGHT, **answers}))


ANSWERS = st.dictionaries(
    st.sampled_from(["double", "mean", "explain"]), st.text(max_size=200), max_size=3
)


@fuzz
@given(
    answers=ANSWERS,
    via=st.sampled_from(["api", "form"]),
    filename=FILENAMES,
    part_type=PART_TYPES,
)
def test_a_valid_notebook_is_stored_once_whatever_its_name(
    client,
    uploads,
    grading_lab,
    queued,
    django_capture_on_commit_callbacks,
    answers,
    via,
    filename,
    part_type,
):
    """The lab's notebook with any answers, under any file name (path traversal
    included) and part type: accepted once, stored under our own name inside
    MEDIA_ROOT/submissions with its sha256, and queued for grading once."""
    data = _valid(grading_lab, answers)
    # Names Django's parser drops (nothing printable after the last separator,
    # "." or ".."): no file arrives, which is refused as a missing file.
    kept = kept_name(filename)
    with one_upload(uploads, queued, django_capture_on_commit_callbacks) as callbacks:
        accepted, message, pk = submit(client, via, data, filename, part_type)
        assert accepted is kept, message
        check_stored(uploads, accepted, message, pk, data)
    check_queued(queued, callbacks, accepted, pk)


def _other_labs() -> list[Path]:
    return sorted(LABS_DIR.glob("*/*.ipynb"))


BAD_NOTEBOOKS = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=3000)),
    st.tuples(st.just("text"), st.text(max_size=500)),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("cut"), st.integers(0, 10**6)),
    st.tuples(st.just("encoding"), st.sampled_from(["utf-16", "utf-32", "xff"])),
    st.tuples(
        st.just("nbformat"),
        st.sampled_from([3, 5, "4", None, True, 4.5, -4, 2**70, [4], {}]),
    ),
    st.tuples(
        st.just("drop"),
        st.sampled_from(["metadata", "cells", "nbformat", "cell metadata"]),
    ),
    st.tuples(st.just("other lab"), st.sampled_from(range(len(_other_labs())))),
    st.tuples(st.just("huge cell"), st.integers(64 * 1024, 80 * 1024)),
    st.tuples(st.just("no graded cells"), st.booleans()),
    st.tuples(st.just("deep"), st.integers(1000, 30000)),
)


def bad_notebook(lab, kind: str, value) -> bytes:
    """Something that is not this lab's notebook, of the kind named."""
    notebook = notebook_with(lab, RIGHT)
    valid = as_bytes(notebook)
    if kind in ("bytes", "text"):
        return value if isinstance(value, bytes) else value.encode()
    if kind == "json":
        return json.dumps(value).encode()
    if kind == "cut":
        return valid[: value % len(valid)]
    if kind == "deep":
        return b"[" * value + b"]" * value
    if kind == "encoding":
        text = valid.decode().replace("One outlier", "Ünë outlier")
        return text.encode("latin-1") if value == "xff" else text.encode(value)
    if kind == "nbformat":
        notebook["nbformat"] = value
    elif kind == "drop":
        if value == "cell metadata":
            del notebook["cells"][2]["metadata"]
        else:
            del notebook[value]
    elif kind == "other lab":
        return _other_labs()[value].read_bytes()
    elif kind == "huge cell":
        notebook["cells"][2]["source"] = "x = 1\n" * (value // 6)
    else:
        for cell in notebook["cells"]:
            cell["metadata"].pop("nbgrader")
        notebook["cells"] = notebook["cells"] if value else []
    return as_bytes(notebook)


@fuzz
@example(bad=("deep", 30000), via="api", filename="lab.ipynb", part_type="")
# A dropped name on a part too long to be read as the next part's headers.
@example(bad=("bytes", b"x" * 20000), via="api", filename="\x1f", part_type="")
@example(bad=("bytes", b"x" * 20000), via="form", filename="\x1f", part_type="")
@given(
    bad=BAD_NOTEBOOKS,
    via=st.sampled_from(["api", "form"]),
    filename=FILENAMES,
    part_type=PART_TYPES,
)
def test_a_file_that_is_not_the_labs_notebook_is_refused_with_a_message(
    client,
    uploads,
    grading_lab,
    queued,
    django_capture_on_commit_callbacks,
    bad,
    via,
    filename,
    part_type,
):
    """Arbitrary bytes, text, JSON, a cut notebook, UTF-16 or Latin-1, another
    nbformat version, a notebook without its metadata or cells, another lab's
    notebook, a cell over the size limit, no graded cells, JSON nested deeper
    than Python's parser goes: a 400 (API) or the form's error, with a message;
    no row, no file, nothing queued."""
    data = bad_notebook(grading_lab, *bad)
    with one_upload(uploads, queued, django_capture_on_commit_callbacks) as callbacks:
        accepted, message, pk = submit(client, via, data, filename, part_type)
        assert not accepted
        check_stored(uploads, accepted, message, pk, data)
    check_queued(queued, callbacks, accepted, pk)


def _cell_metadata_edited(notebook: dict, edit) -> dict:
    where, index, value = edit
    cell = notebook["cells"][index % len(notebook["cells"])]
    if where == "nbgrader":
        cell["metadata"]["nbgrader"] = value
    elif where == "grade_id":
        cell["metadata"]["nbgrader"]["grade_id"] = value
    elif where == "locked":
        cell["metadata"]["nbgrader"]["locked"] = value
    elif where == "deep":
        depth = value if isinstance(value, int) and 0 < value < 3000 else 900
        cell["metadata"]["deep"] = json.loads("[" * depth + "]" * depth)
    else:
        cell["metadata"] = value
    return notebook


NOTEBOOK_EDITS = st.one_of(
    st.tuples(st.just("leaf"), DOCUMENT_EDITS),
    st.tuples(
        st.just("cell"),
        st.tuples(
            st.sampled_from(["nbgrader", "grade_id", "locked", "metadata", "deep"]),
            st.integers(0, 100),
            json_values,
        ),
    ),
)


@fuzz
@given(edit=NOTEBOOK_EDITS, via=st.sampled_from(["api", "form"]))
@example(edit=("cell", ("nbgrader", 2, "x")), via="api")
@example(edit=("cell", ("grade_id", 2, ["double"])), via="api")
@example(edit=("cell", ("nbgrader", 0, [])), via="form")
@example(edit=("cell", ("deep", 0, 900)), via="api")
@example(edit=("leaf", ("replace", ("cells", 0, "cell_type"), None, "x")), via="api")
@example(edit=("leaf", ("replace", ("cells", 0, "cell_type"), {}, "x")), via="form")
def test_any_change_to_a_valid_notebook_is_accepted_or_refused_cleanly(
    client, uploads, grading_lab, queued, django_capture_on_commit_callbacks, edit, via
):
    """The lab's notebook with any one value changed, added or removed (cell
    metadata and nbgrader's included): accepted and stored once, or refused with
    a message and nothing kept; never a 5xx."""
    notebook = notebook_with(grading_lab, RIGHT)
    kind, change = edit
    if kind == "leaf":
        notebook = document_edited(notebook, change)
    else:
        notebook = _cell_metadata_edited(notebook, change)
    data = as_bytes(notebook)
    with one_upload(uploads, queued, django_capture_on_commit_callbacks) as callbacks:
        accepted, message, pk = submit(client, via, data, "lab.ipynb", "")
        check_stored(uploads, accepted, message, pk, data)
    check_queued(queued, callbacks, accepted, pk)


@fuzz
@given(
    body=st.binary(max_size=2000),
    content_type=CONTENT_TYPES,
    via=st.sampled_from(["api", "form"]),
)
@example(
    body=b'--fuzz\r\nContent-Disposition: form-data; name="notebook"; filename="a',
    content_type="multipart/form-data; boundary=fuzz",
    via="api",
)
@example(body=b"\x00", content_type="multipart/form-data", via="api")
@example(body=b"\x00", content_type="multipart/form-data", via="form")
def test_a_malformed_request_is_refused_with_a_message(
    client,
    uploads,
    queued,
    django_capture_on_commit_callbacks,
    body,
    content_type,
    via,
):
    """Any body under any content type (broken multipart included), not a form
    with a file: refused with a message, nothing kept."""
    url = SUBMIT_URL if via == "api" else LAB_URL
    with one_upload(uploads, queued, django_capture_on_commit_callbacks) as callbacks:
        response = client.generic("POST", url, body, content_type=content_type)
        # Through the API only an empty body asks for the notebook saved in the
        # caller's lab (no lab service here: 503, with a message); any other body
        # without a file is refused.
        empty = via == "api" and not body
        allowed = (503,) if empty else (200, 400)
        assert response.status_code in allowed, response.status_code
        if via == "api":
            message = response.json()["detail"]
        elif response.status_code == 400:  # a body no browser sends: the 400 page
            message = response.content.decode()
            assert "The request could not be read" in message
        else:
            errors = response.context["form"].errors.get("notebook") or []
            message = " ".join(errors) or response.context["submit_error"]
        check_stored(uploads, False, message, None, body)
    check_queued(queued, callbacks, False, None)
