"""Building tampered tokens by hand, with PyJWT and raw base64 (not our adapter)."""

import base64
import json

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def assemble(header: dict, payload: dict, signature: str) -> str:
    encode = lambda value: b64(json.dumps(value).encode())  # noqa: E731
    return f"{encode(header)}.{encode(payload)}.{signature}"


def with_payload(token: str, payload: dict) -> str:
    """The same header and signature over a different payload."""
    header, _payload, signature = parts(token)
    head, _body, _sig = token.split(".")
    return f"{head}.{b64(json.dumps(payload).encode())}.{signature}"


def signed_by_stranger(payload: dict, header: dict) -> str:
    """``payload`` signed with a key that is not the issuer's."""
    key = Ed25519PrivateKey.generate()
    return pyjwt.encode(payload, key, algorithm="EdDSA", headers=header)


def signed_by_issuer(payload: dict, header: dict) -> str:
    """``payload`` as it is, signed with the issuer's real signing key."""
    from grading.credentials import keys

    pem = keys.signing_key().key.export_to_pem(private_key=True, password=None)
    return pyjwt.encode(payload, pem, algorithm="EdDSA", headers=header)


def check(verification, name: str):
    return next(c for c in verification.checks if c.name == name)
