"""POST /api/v1/verify/bulk: employer accounts send a CSV of ids and get one row
per id back, streamed, with the same cryptographic verdict as /verify/<id>."""

import csv
import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grading.credentials import services
from lms.accounts.services import api_token_create
from tests.factories import UserFactory

URL = "/api/v1/verify/bulk"


def _auth(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=user)}"}


def _rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _post(client, body: str, user, **extra):
    return client.post(URL, body, content_type="text/csv", **_auth(user), **extra)


def test_anonymous_and_non_employers_are_refused(client, certificate, trainee):
    body = f"id\n{certificate.pk}\n"

    assert client.post(URL, body, content_type="text/csv").status_code == 401
    assert _post(client, body, trainee).status_code == 403
    assert _post(client, body, UserFactory(role="instructor")).status_code == 403


def test_staff_may_use_it(client, certificate):
    staff = UserFactory(role="trainee", is_staff=True)

    response = _post(client, f"{certificate.pk}\n", staff)

    assert response.status_code == 200
    assert _rows(response) == [
        {"id": str(certificate.pk), "verified": "true", "status": "valid", "errors": ""}
    ]


def test_ten_thousand_ids_streamed_with_per_row_verdicts(
    client, issue, employer, other_trainee
):
    """A mix of valid, revoked, unknown and malformed ids, in the input order,
    answered as a stream; the certificates are read in batches, not per row."""
    valid = issue()
    revoked = services.certificate_revoke(
        certificate=issue(user=other_trainee), reason="fraud", by=None
    )
    kinds = {
        "valid": str(valid.pk),
        "revoked": str(revoked.pk).upper(),
        "unknown": None,
        "malformed": "=cmd|' /C calc'!A0",
    }
    expected, lines = [], ["id"]
    for n in range(10_000):
        kind = ("valid", "revoked", "unknown", "malformed")[n % 4]
        ident = kinds[kind] or str(uuid.uuid4())
        status = "invalid" if kind == "malformed" else kind
        expected.append((ident, status))
        lines.append(f"{ident},extra column")

    with CaptureQueriesContext(connection) as queries:
        response = _post(client, "\n".join(lines), employer)
        rows = _rows(response)

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(rows) == 10_000
    assert [(r["id"].lstrip("'"), r["status"]) for r in rows] == expected
    assert rows[0]["verified"] == "true" and rows[0]["errors"] == ""
    assert rows[1]["errors"] == "The credential has been revoked."
    assert rows[2]["errors"] == "No credential has this identifier."
    assert rows[3]["id"].startswith("'=")  # never a spreadsheet formula
    assert {r["verified"] for r in rows[1:4]} == {"false"}
    assert len(queries) < 60  # 20 batches of 500, not 10,000 lookups


def test_a_csv_upload_and_chinese_reasons(client, certificate, employer):
    upload = SimpleUploadedFile("ids.csv", b"id\nnot-an-id\n", "text/csv")

    response = client.post(
        URL, {"file": upload}, HTTP_ACCEPT_LANGUAGE="zh-hans", **_auth(employer)
    )

    assert response.status_code == 200
    assert _rows(response) == [
        {
            "id": "not-an-id",
            "verified": "false",
            "status": "invalid",
            "errors": "这不是证书编号。",
        }
    ]


def test_over_the_cap_is_refused(client, certificate, employer, settings):
    settings.VERIFY_BULK_MAX_ROWS = 100
    body = "\n".join(str(certificate.pk) for _ in range(101))

    response = _post(client, body, employer)

    assert response.status_code == 413
    assert "100" in response.json()["detail"]
    assert _post(client, body.rsplit("\n", 1)[0], employer).status_code == 200


@pytest.mark.parametrize("body", ["", "id\n", "\n\n", "\xff\xfe".encode("latin-1")])
def test_an_empty_or_unreadable_csv_is_a_400(client, employer, body):
    response = _post(client, body, employer)

    assert response.status_code == 400
    assert response.json()["detail"]


def test_documented_in_the_openapi_schema(client):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/verify/bulk"]["post"]

    assert "text/csv" in operation["requestBody"]["content"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert {"403", "413"} <= set(operation["responses"])
