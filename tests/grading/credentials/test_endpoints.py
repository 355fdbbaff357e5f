"""The public endpoints: keys, DID document, credentials, status lists and the
verification API. Issued credentials are verified here by PyJWT, a different JOSE
library from the one that signs them, with the key the JWKS publishes."""

import asyncio
import json

import jwt as pyjwt
import pytest
from jwt.algorithms import OKPAlgorithm

from grading.credentials import keys, services
from tests.lms.test_http import http_call, http_scope


def _published_key(client, kid):
    jwks = client.get("/.well-known/jwks.json").json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    return OKPAlgorithm.from_jwk(json.dumps(jwk))


def test_pyjwt_verifies_an_issued_credential_with_the_published_key(
    client, certificate
):
    """The JWT verifies under PyJWT with the JWKS key its kid names; its claims
    match the credential (OB 3.0 §8.2)."""
    token = client.get(
        f"/credentials/{certificate.pk}", HTTP_ACCEPT="application/vc+jwt"
    ).content.decode()
    header = pyjwt.get_unverified_header(token)
    claims = pyjwt.decode(
        token,
        _published_key(client, header["kid"]),
        algorithms=["EdDSA"],
        options={"verify_aud": False, "require": ["iss", "jti", "nbf", "exp"]},
    )
    assert header["typ"] == "vc+jwt" and header["alg"] == "EdDSA"
    assert claims["iss"] == claims["issuer"]["id"] == keys.issuer_did()
    assert claims["jti"] == claims["id"] == f"urn:uuid:{certificate.pk}"
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]


def test_the_credential_in_both_forms(client, certificate):
    """application/vc+jwt gives the compact JWT; JSON gives the enveloped
    credential holding the same JWT."""
    jwt_response = client.get(
        f"/credentials/{certificate.pk}", HTTP_ACCEPT="application/vc+jwt"
    )
    json_response = client.get(f"/credentials/{certificate.pk}")

    assert jwt_response["Content-Type"] == "application/vc+jwt"
    assert jwt_response.content.decode() == certificate.jwt
    assert json_response["Content-Type"] == "application/json"
    assert json_response.json() == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"data:application/vc+jwt,{certificate.jwt}",
        "type": "EnvelopedVerifiableCredential",
    }
    assert (
        client.get("/credentials/7c1d3a52-0000-4000-8000-000000000000").status_code
        == 404
    )


def test_the_did_document_lists_the_keys_as_assertion_methods(client, certificate):
    did = client.get("/.well-known/did.json").json()
    assert did["id"] == keys.issuer_did() == "did:web:academy.example%3A8443"
    method = did["verificationMethod"][0]
    assert method["type"] == "JsonWebKey"
    assert method["id"] == certificate.key_id
    assert method["controller"] == did["id"]
    assert "d" not in method["publicKeyJwk"]
    assert did["assertionMethod"] == [certificate.key_id]


def test_the_status_list_is_published_signed(client, certificate, instructor):
    """The status list credential verifies under PyJWT; the certificate's bit
    flips as soon as it is revoked."""
    from grading.credentials.status import bit_get, bits_decode

    url = certificate.credential["credentialStatus"]["statusListCredential"]
    path = url.removeprefix("https://academy.example:8443")

    def bit() -> bool:
        token = client.get(path, HTTP_ACCEPT="application/vc+jwt").content.decode()
        header = pyjwt.get_unverified_header(token)
        claims = pyjwt.decode(
            token, _published_key(client, header["kid"]), algorithms=["EdDSA"]
        )
        assert claims["type"] == [
            "VerifiableCredential",
            "BitstringStatusListCredential",
        ]
        assert claims["credentialSubject"]["statusPurpose"] == "revocation"
        bits = bits_decode(claims["credentialSubject"]["encodedList"])
        return bit_get(bits, certificate.status_index)

    assert bit() is False
    services.certificate_revoke(certificate=certificate, reason="x", by=instructor)
    assert bit() is True
    assert client.get("/credentials/status/999999").status_code == 404


def test_api_verify_answers_the_design_shape(client, certificate):
    """POST /api/v1/verify: 200 with verified/status/checks/errors for a JWT, for
    JSON, for garbage; 400 only for an empty body."""
    good = client.post(
        "/api/v1/verify", certificate.jwt, content_type="application/vc+jwt"
    )
    enveloped = client.get(f"/credentials/{certificate.pk}").content
    as_json = client.post("/api/v1/verify", enveloped, content_type="application/json")
    garbage = client.post("/api/v1/verify", b"\x00\xffnope", content_type="text/plain")
    empty = client.post("/api/v1/verify", b"", content_type="text/plain")

    assert good.status_code == 200
    assert set(good.json()) == {"verified", "status", "checks", "errors"}
    assert good.json()["verified"] is True and good.json()["status"] == "valid"
    assert as_json.json()["status"] == "valid"
    assert garbage.status_code == 200
    assert garbage.json()["verified"] is False
    assert garbage.json()["status"] == "invalid"
    assert empty.status_code == 400


def test_api_verify_reports_revoked(client, certificate, instructor):
    services.certificate_revoke(certificate=certificate, reason="x", by=instructor)
    answer = client.post(
        "/api/v1/verify", certificate.jwt, content_type="text/plain"
    ).json()
    assert answer["status"] == "revoked"
    assert [c for c in answer["checks"] if c["name"] == "status"][0]["passed"] is False


@pytest.mark.late  # a transactional test empties the database
@pytest.mark.django_db(transaction=True)
def test_api_verify_reads_a_body_sent_in_chunks(certificate):
    """Through the site's entry point (lms.asgi, as uvicorn calls it), the
    credential in chunks with no Content-Length, as a streaming client sends it:
    verified, not read as an empty body (Django's WSGI handler reads a body
    without a length as empty; lms.http gives it its length)."""
    from lms.asgi import application

    jwt = certificate.jwt.encode()
    half = len(jwt) // 2
    scope = http_scope(
        "POST",
        "/api/v1/verify",
        [(b"content-type", b"application/vc+jwt"), (b"transfer-encoding", b"chunked")],
        host="testserver",
    )
    status, _headers, body = asyncio.run(
        http_call(application, scope, [jwt[:half], jwt[half:]])
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["verified"] is True and answer["status"] == "valid"
