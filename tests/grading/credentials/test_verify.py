"""Verification: every tampering is answered verified false with the right failing
check, never an exception; revocation shows at once."""

import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from django.utils import timezone

from grading.credentials import keys, services
from grading.credentials.verify import credential_verify, verify_by_id
from tests.grading.credentials.helpers import (
    assemble,
    b64,
    check,
    parts,
    signed_by_issuer,
    signed_by_stranger,
    with_payload,
)


def test_an_issued_credential_verifies(certificate):
    """All six checks pass, in order, and the status is valid."""
    result = credential_verify(certificate.jwt)

    assert result.verified and result.status == "valid"
    assert [c.name for c in result.checks] == [
        "format",
        "issuer",
        "key",
        "signature",
        "validity",
        "status",
    ]
    assert all(c.passed for c in result.checks)
    assert result.errors == []
    assert result.as_dict()["checks"][0] == {
        "name": "format",
        "passed": True,
        "reason": result.checks[0].reason,
    }


@pytest.mark.parametrize(
    "form",
    ["bytes", "json-string", "enveloped", "enveloped-text", "embedded-proof"],
)
def test_every_accepted_form_verifies(certificate, form):
    """A JWT as bytes, a JSON string, the enveloped credential (object or text) and
    a credential with the JWT in its proof all verify."""
    token = certificate.jwt
    enveloped = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": f"data:application/vc+jwt,{token}",
        "type": "EnvelopedVerifiableCredential",
    }
    data = {
        "bytes": token.encode(),
        "json-string": json.dumps(token),
        "enveloped": enveloped,
        "enveloped-text": json.dumps(enveloped),
        "embedded-proof": certificate.credential | {"proof": {"jwt": token}},
    }[form]
    assert credential_verify(data).status == "valid"


def test_a_changed_field_beside_an_embedded_jwt_fails_the_format_check(certificate):
    """The JSON shown beside the JWT must be what was signed."""
    document = json.loads(json.dumps(certificate.credential))
    document["name"] = "Doctor of Everything"
    result = credential_verify(document | {"proof": {"jwt": certificate.jwt}})
    assert not result.verified and check(result, "format").passed is False


@pytest.mark.parametrize(
    "path",
    [
        ("name",),
        ("validFrom",),
        ("credentialSubject", "achievement", "name"),
        ("credentialSubject", "identifier", 0, "identityHash"),
        ("credentialSubject", "result", 0, "value"),
        ("credentialStatus", "statusListIndex"),
        ("evidence", 0, "name"),
        ("iat",),
    ],
)
def test_any_changed_payload_field_fails_the_signature(certificate, path):
    """Changing a field of the payload, keeping the signature, is refused."""
    _header, payload, _sig = parts(certificate.jwt)
    target = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = (
        target[path[-1]] + 1 if isinstance(target[path[-1]], int) else "2"
    )
    result = credential_verify(with_payload(certificate.jwt, payload))
    assert not result.verified and result.status == "invalid"
    assert check(result, "signature").passed is False or any(
        c.passed is False for c in result.checks[:2]
    )


def test_a_changed_signature_character_fails_the_signature(certificate):
    """One character of the signature changed: signature check fails."""
    head, body, signature = certificate.jwt.split(".")
    swapped = ("A" if signature[5] != "A" else "B").join([signature[:5], signature[6:]])
    result = credential_verify(f"{head}.{body}.{swapped}")
    assert not result.verified
    assert check(result, "signature").passed is False


def test_alg_none_is_refused(certificate):
    """An unsigned token (alg none, with no signature or the original one) fails
    before any key is used."""
    header, payload, signature = parts(certificate.jwt)
    for sig in ("", signature):
        result = credential_verify(assemble(header | {"alg": "none"}, payload, sig))
        assert not result.verified and result.status == "invalid"
        assert check(result, "signature").passed is not True
        assert check(result, "format").passed is False or (
            check(result, "key").passed is False
        )


def test_hs256_with_the_public_key_as_secret_is_refused(certificate):
    """The classic key-confusion forgery: HS256 keyed with the public key."""
    header, payload, _sig = parts(certificate.jwt)
    public = keys.signing_key().public_jwk["x"].encode()
    forged = pyjwt.encode(
        payload, public, algorithm="HS256", headers={"kid": header["kid"]}
    )
    result = credential_verify(forged)
    assert not result.verified
    assert check(result, "key").passed is False
    assert "HS256" in check(result, "key").reason


def test_an_unknown_kid_fails_the_key_check(certificate):
    header, payload, _sig = parts(certificate.jwt)
    token = signed_by_stranger(payload, {"kid": keys.issuer_did() + "#stranger"})
    result = credential_verify(token)
    assert not result.verified and check(result, "key").passed is False


@pytest.mark.parametrize("kid_is_ours", [True, False])
@pytest.mark.parametrize("extra", ["jku", "x5u", "jwk"])
def test_foreign_key_headers_are_ignored(certificate, extra, kid_is_ours):
    """jku/x5u/jwk pointing at an attacker's key do not make it trusted: with our
    kid the signature fails, with theirs the key check fails."""
    header, payload, _sig = parts(certificate.jwt)
    value = {
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64(b"\x01" * 32)},
    }[extra]
    kid = header["kid"] if kid_is_ours else "https://evil.example/jwks.json#1"
    token = signed_by_stranger(payload, {"kid": kid, extra: value})
    result = credential_verify(token)
    assert not result.verified
    failed = "signature" if kid_is_ours else "key"
    assert check(result, failed).passed is False


def test_a_wrong_issuer_fails_the_issuer_check(certificate):
    """Signed by our own key, but naming another issuer (in iss, in issuer.id, or
    in both): the signature holds and the issuer check fails."""
    header, payload, _sig = parts(certificate.jwt)
    evil = "did:web:evil.example"
    for change in (
        {"iss": evil},
        {"issuer": payload["issuer"] | {"id": evil}},
        {"iss": evil, "issuer": payload["issuer"] | {"id": evil}},
    ):
        token = signed_by_issuer(payload | change, {"kid": header["kid"]})
        result = credential_verify(token)
        assert not result.verified and result.status == "invalid"
        assert check(result, "issuer").passed is False
        assert check(result, "signature").passed is True


def test_expired_and_not_yet_valid(certificate):
    """Outside its validity window: expired after validUntil, invalid before
    validFrom; the validity check says which."""
    later = certificate.valid_until + timedelta(seconds=1)
    earlier = certificate.valid_from - timedelta(seconds=1)

    expired = credential_verify(certificate.jwt, now=later)
    early = credential_verify(certificate.jwt, now=earlier)

    assert (expired.verified, expired.status) == (False, "expired")
    assert check(expired, "validity").passed is False
    assert (early.verified, early.status) == (False, "invalid")
    assert check(early, "validity").passed is False


def test_no_expiry_means_valid_forever(issue):
    certificate = issue(valid_for=None)
    assert "validUntil" not in certificate.credential
    far = timezone.now() + timedelta(days=36500)
    assert credential_verify(certificate.jwt, now=far).status == "valid"


def test_revoking_shows_at_once_through_the_cached_list(certificate, instructor):
    """Verified (status list now cached), revoked, verified again: revoked."""
    assert credential_verify(certificate.jwt).status == "valid"
    services.certificate_revoke(certificate=certificate, reason="fraud", by=instructor)
    result = credential_verify(certificate.jwt)
    assert (result.verified, result.status) == (False, "revoked")
    assert check(result, "status").passed is False
    assert check(result, "signature").passed is True


def test_revoking_one_certificate_leaves_the_others_valid(issue, instructor):
    from tests.factories import UserFactory

    kept, revoked = issue(user=UserFactory()), issue(user=UserFactory())
    services.certificate_revoke(certificate=revoked, reason="x", by=instructor)
    assert credential_verify(kept.jwt).status == "valid"
    assert credential_verify(revoked.jwt).status == "revoked"


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        b"",
        b"\xff\xfe\x00binary\x00",
        "x" * (2 * 1024 * 1024),
        "not json, not a jwt",
        "{not json",
        "[1, 2, 3]",
        "null",
        "42",
        '{"type": "EnvelopedVerifiableCredential", "id": "data:text/plain,x"}',
        '{"proof": {"type": "DataIntegrityProof"}}',
        "a.b.c",
        "eyJ9.eyJ9.AAAA",
        "..",
        None,
        12,
        [],
        {},
    ],
)
def test_garbage_is_invalid_with_a_reason_never_an_exception(db, garbage):
    result = credential_verify(garbage)
    assert (result.verified, result.status) == (False, "invalid")
    assert result.errors and check(result, "format").passed is False
    json.dumps(result.as_dict())


def test_verify_by_id(certificate):
    """The stored credential verifies; an unknown or malformed id is unknown."""
    import uuid

    assert verify_by_id(certificate.pk).status == "valid"
    assert verify_by_id(str(certificate.pk)).verified
    assert verify_by_id(uuid.uuid4()).status == "unknown"
    assert verify_by_id("not-a-uuid").status == "unknown"


def test_the_signature_is_checked_on_the_tokens_own_bytes_with_the_kid_s_key():
    """jose.signature_check (the Ed25519 check without the JOSE library's JWS
    object): a token verifies with the key its kid names and no other; a signature
    of another key, a shortened signature, a signature moved to another payload
    and a key that is not Ed25519 each fail as "signature", never as an error."""
    import base64
    import json as jsonlib

    from jwcrypto import jwk

    from grading.credentials.jose import (
        CredentialError,
        credential_decode,
        credential_sign,
    )

    ours = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    other = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    public = jwk.JWK.from_json(ours.export_public())
    document = {
        "id": "urn:uuid:1",
        "issuer": "did:web:example.org",
        "validFrom": "2026-01-01T00:00:00Z",
    }
    token = credential_sign(document, key=ours, kid="k1", issued_at=1)
    header, payload = credential_decode(token, {"k1": public}.get)
    assert header["kid"] == "k1" and payload["id"] == "urn:uuid:1"

    def refused(candidate: str, resolver) -> None:
        with pytest.raises(CredentialError) as raised:
            credential_decode(candidate, resolver)
        assert raised.value.code == "signature"

    foreign = credential_sign(document, key=other, kid="k1", issued_at=1)
    refused(foreign, {"k1": public}.get)
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    short = base64.urlsafe_b64encode(raw[:-1]).rstrip(b"=").decode()
    refused(f"{head}.{body}.{short}", {"k1": public}.get)
    moved = base64.urlsafe_b64encode(
        jsonlib.dumps({"id": "urn:uuid:2"}).encode()
    ).rstrip(b"=")
    refused(f"{head}.{moved.decode()}.{signature}", {"k1": public}.get)
    not_ed25519 = jwk.JWK.generate(kty="EC", crv="P-256")
    refused(token, {"k1": not_ed25519}.get)
    with pytest.raises(CredentialError) as unknown:
        credential_decode(token, {}.get)
    assert unknown.value.code == "key"
