"""Fuzzing credential verification: ``POST /api/v1/verify``, the ``/verify``
form and ``/verify/<id>`` pages, and ``POST /api/v1/verify/bulk``.

Properties, whatever the input: never a 5xx; the documented answer shape
(``verified``, ``status``, ``checks``, ``errors``) or a 4xx with a message; a
credential verifies only when its signed content is untouched. Examples are
bounded (``strategies.fuzz``); every defect the fuzzing found has its input as an
``@example``.
"""

import csv
import hashlib
import hmac
import io
import json
import os
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import example, given
from hypothesis import strategies as st

from grading.credentials import keys
from grading.credentials.verify import MAX_INPUT_BYTES
from lms.accounts.services import api_token_create
from tests.grading.credentials.helpers import (
    assemble,
    b64,
    parts,
    signed_by_stranger,
)
from tests.security.fuzz.strategies import (
    CONTENT_TYPES,
    DOCUMENT_EDITS,
    document_edited,
    fuzz,
    json_values,
)

VERIFY_URL = "/api/v1/verify"
BULK_URL = "/api/v1/verify/bulk"
FORM_URL = "/verify"
ANSWER_KEYS = {"verified", "status", "checks", "errors"}
STATUSES = {"valid", "revoked", "expired", "invalid", "unknown"}
CHECKS = ["format", "issuer", "key", "signature", "validity", "status"]

# JSON that looks enough like a credential to pass the first gates.
credential_like = st.fixed_dictionaries(
    {},
    optional={
        "@context": json_values | st.just(["https://www.w3.org/ns/credentials/v2"]),
        "type": st.sampled_from(
            [
                "EnvelopedVerifiableCredential",
                ["VerifiableCredential", "OpenBadgeCredential"],
                ["EnvelopedVerifiableCredential"],
            ]
        )
        | json_values,
        "id": st.text(max_size=40).map(lambda t: f"data:application/vc+jwt,{t}")
        | json_values,
        "proof": json_values
        | st.lists(st.fixed_dictionaries({"jwt": st.text(max_size=60)}), max_size=3),
    },
)

# Input validation explored: the PostgreSQL run of .ci/run leaves it to `make test`
# (the submission and verification tests there run on both engines).
pytestmark = pytest.mark.engine_free


@pytest.fixture
def unlimited(settings):
    """The verification rate limit off (fuzzing sends hundreds of requests), and
    bulk checks capped at 20 rows so that the cap is reached."""
    settings.VERIFY_RATE_LIMIT = ""
    settings.VERIFY_BULK_MAX_ROWS = 20
    return settings


def answer_of(response, *, genuine: bool = False) -> dict:
    """The API's answer, checked against the documented shape: 200 with the
    verdict, or a 4xx with a message. ``verified`` only for a genuine input."""
    assert response.status_code in (200, 400, 413), response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"detail"} and body["detail"].strip()
        return body
    assert set(body) == ANSWER_KEYS
    assert body["status"] in STATUSES
    assert body["verified"] is (body["status"] == "valid")
    assert [check["name"] for check in body["checks"]] == CHECKS
    for check in body["checks"]:
        assert check["passed"] in (True, False, None) and check["reason"]
    assert all(isinstance(error, str) and error for error in body["errors"])
    assert bool(body["errors"]) is not body["verified"]
    if not genuine:
        assert body["verified"] is False, body
    return body


def post_verify(client, body, content_type="application/json"):
    if not isinstance(body, bytes | str):
        body = json.dumps(body)
    # generic(): the bytes as they are, whatever charset the content type names.
    return client.generic("POST", VERIFY_URL, body, content_type=content_type)


# --- POST /api/v1/verify: anything at all -----------------------------------------


@fuzz
@given(body=st.binary(max_size=2000), content_type=CONTENT_TYPES)
@example(body=b"\xff\xfe{", content_type="application/json")
@example(body=b"[" * 50_000, content_type="application/json")
@example(body=b"\xef\xbb\xbf" + b"{}", content_type="application/json")
def test_verify_answers_any_bytes_with_a_verdict_or_a_clear_400(
    client, unlimited, db, body, content_type
):
    """Arbitrary bytes under any content type: 200 with a refusing verdict, or
    400 with a message for an empty body."""
    answer = answer_of(post_verify(client, body, content_type))
    if body.strip():
        assert "verified" in answer


@fuzz
@given(value=json_values | credential_like | st.lists(credential_like, max_size=3))
def test_verify_answers_any_json_with_a_refusing_verdict(client, unlimited, db, value):
    """Any JSON value, credential-shaped or not, is answered with the verdict
    shape and never verifies."""
    answer_of(post_verify(client, value))


def test_verify_refuses_deeply_nested_json_without_an_error(
    client, unlimited, db, caplog
):
    """JSON nested deeper than Python's parser goes (as the body, or as a JWT's
    payload) is an invalid credential that cannot be read: not a crash, and not
    an error in the log (one request per log alarm would be a cheap attack)."""
    deep_payload = b64(b"[" * 300_000)
    for body in (
        b"[" * 1_000_000,
        b'{"a":' * 200_000,
        f"{b64(b'{}')}.{deep_payload}.{b64(b'x')}".encode(),
    ):
        answer = answer_of(post_verify(client, body, "text/plain"))
        assert answer["status"] == "invalid"
        assert answer["checks"][0]["passed"] is False
    assert not [r for r in caplog.records if r.levelname in {"ERROR", "CRITICAL"}]


def test_verify_answers_oversized_bodies_clearly(client, unlimited, db, certificate):
    """A body over the credential limit (1 MB), even one over what Django reads
    into memory at all (2.5 MB): 413 with a message, never an HTML page or a
    500. Up to the limit, the credential is verified."""
    padded = certificate.jwt + " " * MAX_INPUT_BYTES
    for body in (padded, b"x" * (4 * 1024 * 1024)):
        response = post_verify(client, body, "application/vc+jwt")
        assert response.status_code == 413
        assert "too large" in answer_of(response)["detail"]
    at_the_limit = certificate.jwt + " " * (MAX_INPUT_BYTES - len(certificate.jwt))
    assert answer_of(post_verify(client, at_the_limit), genuine=True)["verified"]


# --- POST /api/v1/verify: the genuine credential, changed -------------------------

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ENVELOPE = "data:application/vc+jwt,"
FORMS = ["jwt", "envelope", "string", "proof"]


def as_sent(token: str, form: str, document: dict) -> tuple[str, str]:
    """(body, content type) of ``token`` in one of the forms the API takes."""
    if form == "jwt":
        return token, "application/vc+jwt"
    if form == "envelope":
        value = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": ENVELOPE + token,
            "type": "EnvelopedVerifiableCredential",
        }
    elif form == "string":
        value = token
    else:
        value = {**document, "proof": {"type": "JwtProof2020", "jwt": token}}
    return json.dumps(value, ensure_ascii=False), "application/json"


TOKEN_EDITS = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "cut", "segments", "tail"]),
    st.integers(0, 10**6),
    st.text(st.sampled_from(B64URL) | st.characters(codec="utf-8"), max_size=3),
    st.lists(st.integers(0, 2), min_size=1, max_size=4),
)


def token_edited(token: str, edit) -> str:
    """``token`` with characters replaced, inserted or removed, cut short, its
    segments repeated or reordered, or its last character's unused bits changed."""
    kind, position, text, order = edit
    at = position % len(token)
    if kind == "replace":
        return token[:at] + (text or "A") + token[at + 1 :]
    if kind == "insert":
        return token[:at] + (text or ".") + token[at:]
    if kind == "delete":
        return token[:at] + token[at + 1 :]
    if kind == "cut":
        return token[:at]
    if kind == "segments":
        segments = token.split(".")
        return ".".join(segments[i] for i in order)
    # The signature's last base64url character carries 4 unused bits: 16
    # spellings of it decode to the same 64 bytes.
    last = B64URL.index(token[-1])
    return token[:-1] + B64URL[(last + 1 + position % 63) % 64]


@fuzz
@given(edit=st.none() | TOKEN_EDITS, form=st.sampled_from(FORMS))
@example(edit=("tail", 0, "", [0]), form="jwt")
def test_verify_only_the_untouched_token_verifies(
    client, unlimited, certificate, edit, form
):
    """The genuine credential verifies in every form the API takes; any change
    to the compact JWS inside it (a character, a segment, the signature's
    spelling) does not."""
    token = certificate.jwt
    edited = token if edit is None else token_edited(token, edit)
    body, content_type = as_sent(edited, form, certificate.credential)
    # Whitespace around the token (and a byte order mark before a bare one) is
    # not part of it.
    around = edited.strip()
    genuine = (around.lstrip("\ufeff") if form == "jwt" else around) == token
    answer = answer_of(post_verify(client, body, content_type), genuine=genuine)
    assert answer.get("verified", False) is genuine, answer


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _faithful(document: dict, payload: dict) -> bool:
    """Every member shown beside the JWT is exactly (type included) the signed one."""
    return all(
        key in payload and _canonical(value) == _canonical(payload[key])
        for key, value in document.items()
    )


@fuzz
@given(edit=DOCUMENT_EDITS)
@example(edit=("confuse", ("credentialSubject", "identifier", 0, "hashed"), 0, "x"))
def test_verify_refuses_a_proof_whose_document_differs_from_the_signed_one(
    client, unlimited, certificate, edit
):
    """A credential with its JWT as ``proof``: the JSON beside the JWT must be
    the signed credential exactly (a member left out is allowed; a changed
    value, an added member, ``true`` written as ``1`` or ``"86"`` as ``86`` is
    not), otherwise the answer is not verified."""
    _header, payload, _signature = parts(certificate.jwt)
    edited = document_edited(certificate.credential, edit)
    body, content_type = as_sent(certificate.jwt, "proof", edited)
    faithful = _faithful(edited, payload)
    answer = answer_of(post_verify(client, body, content_type), genuine=faithful)
    assert answer["verified"] is faithful, (answer, edited)


@pytest.fixture
def another_certificate(issue, other_trainee):
    """A second genuine credential, whose signature and JWT are swapped in."""
    return issue(user=other_trainee)


def _hs256(header: dict, payload: dict, secret: bytes) -> str:
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


HEADER_ATTACKS = st.sampled_from(
    [
        "alg none",
        "alg none, no signature",
        "HS256 with the public key",
        "HS256 with the public JWK",
        "another kid",
        "kid not a string",
        "a stranger's key, our kid",
        "a stranger's key in jwk",
        "crit",
        "typ",
        "dates",
        "signature of another credential",
        "proof of another credential",
    ]
)


@fuzz
@given(
    attack=HEADER_ATTACKS,
    kid=st.text(max_size=20) | json_values,
    form=st.sampled_from(FORMS),
)
def test_verify_refuses_forged_headers_keys_and_swapped_proofs(
    client, unlimited, certificate, another_certificate, attack, kid, form
):
    """The classic JWT forgeries (alg none, HS256 keyed with the public key,
    another or a made-up kid, a key in the header, crit), changed dates, and a
    signature or proof taken from another genuine credential: never verified."""
    other = another_certificate
    header, payload, signature = parts(certificate.jwt)
    public = keys.signing_key().key
    if attack == "alg none":
        token = assemble({**header, "alg": "none"}, payload, signature)
    elif attack == "alg none, no signature":
        token = assemble({**header, "alg": "none"}, payload, "x")[:-1]
    elif attack == "HS256 with the public key":
        secret = public.export_to_pem(private_key=False, password=None)
        token = _hs256({**header, "alg": "HS256"}, payload, secret)
    elif attack == "HS256 with the public JWK":
        secret = json.dumps(public.export_public(as_dict=True)).encode()
        token = _hs256({**header, "alg": "HS256"}, payload, secret)
    elif attack == "another kid":
        token = assemble({**header, "kid": f"{header['kid']}{kid}"}, payload, signature)
    elif attack == "kid not a string":
        token = assemble({**header, "kid": kid}, payload, signature)
    elif attack == "a stranger's key, our kid":
        token = signed_by_stranger(payload, header)
    elif attack == "a stranger's key in jwk":
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(b"\0" * 32)}
        jku = "https://attacker.example/jwks.json"
        token = signed_by_stranger(payload, {**header, "jwk": jwk, "jku": jku})
    elif attack == "crit":
        token = assemble({**header, "crit": ["exp"]}, payload, signature)
    elif attack == "typ":
        token = assemble({**header, "typ": kid}, payload, signature)
    elif attack == "dates":
        later = {**payload, "validUntil": "2999-01-01T00:00:00Z", "exp": 32472144000}
        token = assemble(header, later, signature)
    elif attack == "signature of another credential":
        token = certificate.jwt.rsplit(".", 1)[0] + "." + other.jwt.rsplit(".", 1)[1]
    else:  # the other credential's genuine JWT as the proof of this one
        token = other.jwt
        form = "proof"
    body, content_type = as_sent(token, form, certificate.credential)
    answer_of(post_verify(client, body, content_type))


# --- The /verify form and /verify/<id> ----------------------------------------------


def _page_verdict(response, *, genuine: bool) -> None:
    """A verification page: a result, a redirect to one, or the form with its
    error; never a 5xx. Valid only for the genuine credential."""
    assert response.status_code in (200, 302, 400, 404), response.status_code
    if response.status_code == 302:
        assert response["Location"].startswith("/verify/")
        return
    context = response.context
    if response.status_code == 400:
        assert context["form"].errors
        for errors in context["form"].errors.values():
            assert all(str(error).strip() for error in errors)
        return
    assert context["verdict"] in STATUSES | {"not_found"}
    if context["verdict"] == "valid":
        assert genuine and context["credential"]["id"]
    if not genuine:  # nothing of an unverified credential is shown
        assert context["credential"] is None


@fuzz
@given(
    reference=st.none() | st.text(max_size=300) | st.sampled_from(["{", '"', "a.b.c"]),
    upload=st.none() | st.binary(max_size=2000),
    edit=st.none() | TOKEN_EDITS,
    form=st.sampled_from(FORMS),
    where=st.sampled_from(["reference", "file", "neither"]),
    # Any name a client can send: one whose last part is empty, "." or ".." (such
    # as "/") cannot be an upload's name (Django's test client refuses to build
    # it, and a browser sends only the last part).
    name=st.text(max_size=40).filter(
        lambda n: os.path.basename(n or "x") not in {"", ".", ".."}
    ),
)
@example(  # found by CI: "/" made the test, not the page, fail
    reference=None, upload=b"", edit=None, form="jwt", where="reference", name="a/b"
)
def test_the_verify_form_answers_anything_with_a_verdict_or_a_form_error(
    client, unlimited, certificate, reference, upload, edit, form, where, name
):
    """Pasted text, an uploaded file (any bytes, any name) or the genuine
    credential changed or not, in any form: a result page, a redirect to one
    or the form with an error; "valid" only for the untouched credential."""
    token = certificate.jwt
    edited = token if edit is None else token_edited(token, edit)
    body, _type = as_sent(edited, form, certificate.credential)
    genuine = edited.strip().lstrip("\ufeff") == token and where != "neither"
    fields = {}
    if reference is not None:
        fields["reference"] = reference
    if upload is not None:
        fields["file"] = SimpleUploadedFile(name or "x", upload)
    if where == "reference":
        fields["reference"] = body
        fields.pop("file", None)
    elif where == "file":
        fields["file"] = SimpleUploadedFile(name or "x", body.encode())
    response = client.post(FORM_URL, fields)
    _page_verdict(response, genuine=genuine)


@fuzz
@given(ident=st.text(max_size=60) | st.uuids().map(str))
def test_the_verify_page_answers_any_id_without_an_error(client, unlimited, db, ident):
    """/verify/<anything>: the result page, "not found", or a redirect; never a
    5xx, never valid (no certificate exists here)."""
    response = client.get(f"/verify/{quote(ident, safe='')}")
    assert response.status_code in (200, 301, 302, 404), response.status_code
    if response.status_code == 200:
        assert response.context["verdict"] != "valid"


# --- POST /api/v1/verify/bulk -----------------------------------------------------

CELLS = st.one_of(
    st.text(max_size=20),
    st.uuids().map(str),
    st.sampled_from(["id", "ID", "=1+1", "@SUM(A1)", "-1", "+1", " ", '"', "\x00"]),
)


@pytest.fixture
def employer_auth(employer):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(user=employer)}"}


def _bulk_rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["id", "verified", "status", "errors"]
    rows = list(reader)
    for row in rows:
        assert row["status"] in STATUSES
        assert row["verified"] == ("true" if row["status"] == "valid" else "false")
    return rows


def _bulk_refusal(response) -> None:
    assert response.status_code in (400, 413), response.status_code
    assert response.json()["detail"].strip()


@fuzz
@given(
    rows=st.lists(st.lists(CELLS, min_size=1, max_size=3), max_size=25),
    genuine_at=st.sets(st.integers(0, 24), max_size=3),
    as_file=st.booleans(),
)
@example(rows=[["id"], ["\x00"]], genuine_at=set(), as_file=False)
@example(rows=[["0\r0"]], genuine_at=set(), as_file=False)
def test_bulk_answers_one_row_per_id_and_verifies_only_real_ids(
    client, unlimited, certificate, employer_auth, rows, genuine_at, as_file
):
    """A CSV of ids (the real certificate's among junk, formulas, blanks, a
    header): one answer row per input id, in order, "true" only for the real
    certificate; more rows than allowed, or none, is a 4xx with a message."""
    rows = [
        [str(certificate.pk)] if i in genuine_at and i < len(rows) else row
        for i, row in enumerate(rows)
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    body = out.getvalue().encode()
    if as_file:
        response = client.post(
            BULK_URL, {"file": SimpleUploadedFile("ids.csv", body)}, **employer_auth
        )
    else:
        response = client.generic(
            "POST", BULK_URL, body, content_type="text/csv", **employer_auth
        )
    ids = [row[0].strip() for row in rows if any(cell.strip() for cell in row)]
    while ids and ids[0].lower() in {"id", "certificate_id", "certificate id"}:
        ids = ids[1:]  # header rows, before the first id
    if not ids or len(ids) > 20:
        _bulk_refusal(response)
        return
    answered = _bulk_rows(response)
    assert len(answered) == len(ids)
    for ident, row in zip(ids, answered, strict=True):
        assert row["id"] in (ident, f"'{ident}")
        assert (row["verified"] == "true") is (ident == str(certificate.pk))


@fuzz
@given(body=st.binary(max_size=3000), content_type=CONTENT_TYPES)
@example(
    body=b"--fuzz\r\nContent-Disposition: form-data; name=file",
    content_type="multipart/form-data; boundary=fuzz",
)
@example(body=b"\x00", content_type="multipart/form-data")
def test_bulk_answers_any_bytes_with_rows_or_a_clear_4xx(
    client, unlimited, db, employer_auth, body, content_type
):
    """Any bytes under any content type: CSV rows (never "true": no real ids),
    or a 4xx with a message."""
    response = client.generic(
        "POST", BULK_URL, body, content_type=content_type, **employer_auth
    )
    if response.status_code == 200:
        assert all(row["verified"] == "false" for row in _bulk_rows(response))
    else:
        _bulk_refusal(response)
