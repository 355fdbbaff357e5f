"""``manage.py verify_credential FILE``: verification with no database.

The certificates are issued (for real, in a transaction rolled back afterwards)
by a fixture; the tests themselves have no database access, so any query would
fail them. The issuer's DID document and status list are served by a local HTTP
server, as the site serves them."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client

from grading.credentials import keys, services, status
from tests.factories import UserFactory
from tests.grading.credentials.conftest import EVIDENCE, RESULTS
from tests.grading.credentials.helpers import parts, with_payload


class _Site(BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802
        body = self.routes.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def site(settings, tmp_path, django_db_setup, django_db_blocker):
    """A local issuer site (DID document, status list) and credential files."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Site,), {}))
    server.RequestHandlerClass.routes = routes = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SITE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    keys.keys_forget()
    with django_db_blocker.unblock(), transaction.atomic():
        from courses.models import ProgrammePage

        programme = ProgrammePage.objects.get(
            slug="cross-border-ecommerce", locale__language_code="en"
        )

        def issue(user):
            return services.certificate_issue(
                user=user,
                programme=programme,
                results=RESULTS,
                evidence=EVIDENCE,
                valid_for=None,
            )

        valid = issue(UserFactory())
        revoked = services.certificate_revoke(
            certificate=issue(UserFactory()), reason="fraud", by=None
        )
        client = Client()
        routes["/.well-known/did.json"] = client.get("/.well-known/did.json").content
        jwks = client.get("/.well-known/jwks.json").content
        list_path = f"/credentials/status/{valid.status_list_id}"
        routes[list_path] = status.status_list_signed(valid.status_list_id).encode()
        transaction.set_rollback(True)

    files = SimpleNamespace(server=server, routes=routes)
    for name, content in {
        "valid.jwt": valid.jwt,
        "revoked.jwt": revoked.jwt,
        "valid.json": json.dumps(
            valid.credential | {"proof": {"type": "JwtProof2020", "jwt": valid.jwt}}
        ),
        "jwks.json": jwks.decode(),
        "status.jwt": routes[list_path].decode(),
    }.items():
        path = tmp_path / name
        path.write_text(content)
        setattr(files, name.replace(".", "_"), path)
    yield files
    server.shutdown()
    server.server_close()


def _run(*args) -> tuple[str, CommandError | None]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_credential", *map(str, args), stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_the_database_is_really_blocked_here(site):
    from grading.credentials.models import Certificate

    with pytest.raises(RuntimeError, match="Database access not allowed"):
        Certificate.objects.count()


def test_verified_with_a_pinned_jwks(site):
    """Key from the pinned JWKS, status list from its URL: all six checks pass,
    exit 0."""
    output, error = _run(site.valid_jwt, "--jwks", site.jwks_json)

    assert error is None
    assert output.count("[PASS]") == 6
    assert "Status: valid (verified)" in output


def test_verified_through_the_did_document(site):
    """No pinned key: the did:web document is fetched over HTTP (localhost)."""
    output, error = _run(site.valid_json)

    assert error is None, output
    assert "Status: valid (verified)" in output


def test_a_revoked_credential_exits_non_zero(site):
    output, error = _run(site.revoked_jwt, "--jwks", site.jwks_json)

    assert error is not None and error.returncode == 1
    assert "[FAIL] status" in output and "revoked" in output
    assert "Status: revoked (NOT verified)" in output


def test_a_tampered_file_names_the_failing_check(site, tmp_path):
    _header, payload, _sig = parts(site.valid_jwt.read_text())
    payload["credentialSubject"]["result"][0]["value"] = "100"
    tampered = tmp_path / "tampered.jwt"
    tampered.write_text(with_payload(site.valid_jwt.read_text(), payload))

    output, error = _run(tampered, "--jwks", site.jwks_json)

    assert error is not None and error.returncode == 1
    assert "[FAIL] signature The signature does not match." in output
    assert "Status: invalid" in output


def test_an_unreachable_issuer_is_reported_clearly(site):
    """The DID host does not answer: the key check is "not checked", with the
    address tried, and the credential is not verified."""
    site.server.shutdown()
    site.server.server_close()

    output, error = _run(site.valid_jwt)

    assert error is not None and error.returncode == 1
    assert "[----] key" in output
    assert "could not be fetched from http://127.0.0.1:" in output
    assert "/.well-known/did.json" in output
    assert "Status: unknown (NOT verified)" in output


def test_an_unreachable_status_list_is_not_checked_never_valid(site):
    site.routes.clear()

    output, error = _run(site.valid_jwt, "--jwks", site.jwks_json, "--json")
    answer = json.loads(output)

    assert error is not None
    assert answer["verified"] is False and answer["status"] == "unknown"
    assert answer["checks"][-1]["name"] == "status"
    assert answer["checks"][-1]["passed"] is None
    assert "status list could not be fetched" in answer["checks"][-1]["reason"]


def test_a_pinned_status_list(site):
    site.routes.clear()

    output, error = _run(
        site.revoked_jwt, "--jwks", site.jwks_json, "--status-list", site.status_jwt
    )

    assert "Status: revoked" in output and error is not None


def test_a_foreign_issuer_is_refused(site):
    output, error = _run(
        site.valid_jwt, "--jwks", site.jwks_json, "--issuer", "did:web:other.example"
    )

    assert error is not None
    assert "[FAIL] issuer" in output


@pytest.mark.django_db  # also makes a run of this module alone create the test DB
def test_a_missing_file_is_a_clear_error(tmp_path):
    _output, error = _run(tmp_path / "missing.jwt")

    assert error is not None and "Cannot read" in str(error)
