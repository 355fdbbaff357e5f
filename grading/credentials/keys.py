"""The issuer's Ed25519 keys: which one signs, and every one that still verifies.

Keys are PEM files, never database rows. In production the signing key comes from
``CREDENTIALS_KEY_FILE`` or ``CREDENTIALS_KEY``; otherwise the newest PEM in
``CREDENTIALS_KEY_DIR`` signs, generated there (mode 0600) on first use.
``key_rotate`` adds a newer one. Every key found stays published in the JWKS and
the DID document, so credentials signed before a rotation still verify; a retired
key may also be kept as its public part alone (``*.pub.pem``).

Loaded keys are cached in the process and reloaded only when the settings or the
folder change (one ``stat`` per call), because verification is on a hot path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils import timezone

from grading.credentials.jose import (
    CredentialError,
    key_from_pem,
    key_generate_pem,
    key_public_jwk,
    key_thumbprint,
)

KEY_SUFFIX = ".pem"
PUBLIC_SUFFIX = ".pub.pem"


@dataclass(frozen=True)
class IssuerKey:
    """One issuer key: ``kid`` is the DID URL that names it in JWS headers."""

    kid: str
    thumbprint: str
    key: object  # the JOSE library's key object (private when it can sign)
    public_jwk: dict
    source: str  # file name or "environment": for operators, never secret
    can_sign: bool


@dataclass(frozen=True)
class _KeySet:
    signing: IssuerKey
    by_kid: dict[str, IssuerKey]


_lock = threading.Lock()
_cache: dict[tuple, _KeySet] = {}


def issuer_did() -> str:
    """``CREDENTIALS_ISSUER_DID``, else ``did:web:`` + the site's host (a port is
    percent-encoded as did:web requires: ``did:web:localhost%3A8000``)."""
    if settings.CREDENTIALS_ISSUER_DID:
        return settings.CREDENTIALS_ISSUER_DID
    parts = urlsplit(settings.SITE_URL)
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}:{parts.port}"
    return "did:web:" + quote(host, safe="")


def key_dir() -> Path:
    return Path(settings.CREDENTIALS_KEY_DIR)


def _dir_stamp(directory: Path) -> int:
    try:
        return directory.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _cache_key() -> tuple:
    env_pem = settings.CREDENTIALS_KEY
    return (
        issuer_did(),
        settings.CREDENTIALS_KEY_FILE,
        hashlib.sha256(env_pem.encode()).hexdigest() if env_pem else "",
        str(key_dir()),
        _dir_stamp(key_dir()),
    )


def _issuer_key(key: object, *, source: str, can_sign: bool) -> IssuerKey:
    thumbprint = key_thumbprint(key)
    kid = f"{issuer_did()}#{thumbprint}"
    jwk = key_public_jwk(key) | {"kid": kid, "alg": "EdDSA", "use": "sig"}
    return IssuerKey(kid, thumbprint, key, jwk, source, can_sign)


def _write_private(directory: Path, pem: bytes) -> Path:
    """Write a new private key file, 0600 from its creation, in a 0700 folder."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"{stamp}{KEY_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return path


def _folder_keys(directory: Path) -> list[IssuerKey]:
    """The folder's keys, oldest first (file names are UTC timestamps)."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{KEY_SUFFIX}")):
        public_only = path.name.endswith(PUBLIC_SUFFIX)
        key = key_from_pem(path.read_bytes())
        found.append(_issuer_key(key, source=path.name, can_sign=not public_only))
    return found


def _load() -> _KeySet:
    configured: IssuerKey | None = None
    if settings.CREDENTIALS_KEY_FILE:
        pem = Path(settings.CREDENTIALS_KEY_FILE).read_bytes()
        configured = _issuer_key(key_from_pem(pem), source="file", can_sign=True)
    elif settings.CREDENTIALS_KEY:
        pem = settings.CREDENTIALS_KEY.encode()
        configured = _issuer_key(key_from_pem(pem), source="environment", can_sign=True)
    folder = _folder_keys(key_dir())
    if configured is None and not any(k.can_sign for k in folder):
        _write_private(key_dir(), key_generate_pem())
        folder = _folder_keys(key_dir())
    signing = configured or [k for k in folder if k.can_sign][-1]
    by_kid = {k.kid: k for k in folder}
    by_kid[signing.kid] = signing
    return _KeySet(signing=signing, by_kid=by_kid)


def _keyset() -> _KeySet:
    stamp = _cache_key()
    keyset = _cache.get(stamp)
    if keyset is None:
        with _lock:
            keyset = _cache.get(stamp)
            if keyset is None:
                keyset = _load()
                _cache.clear()
                # Generating a key changed the folder: store under the new stamp.
                _cache[_cache_key()] = keyset
    return keyset


def signing_key() -> IssuerKey:
    """The key that signs new credentials now."""
    return _keyset().signing


def verification_keys() -> list[IssuerKey]:
    """Every key whose signatures still verify, the signing key last."""
    keyset = _keyset()
    others = [k for k in keyset.by_kid.values() if k.kid != keyset.signing.kid]
    return [*others, keyset.signing]


def key_resolve(kid: str) -> object | None:
    """Our public key named ``kid``, or None: never fetched from anywhere else."""
    found = _keyset().by_kid.get(kid)
    return found.key if found else None


def key_rotate() -> IssuerKey:
    """Generate a new key in the key folder; it signs from now on.

    Refused when the signing key comes from the environment or a file: there,
    rotating means changing that secret (and keeping the old public key as a
    ``*.pub.pem`` in the key folder so that its credentials still verify).
    """
    if settings.CREDENTIALS_KEY_FILE or settings.CREDENTIALS_KEY:
        raise CredentialError(
            "key_configured",
            "The signing key comes from CREDENTIALS_KEY_FILE or CREDENTIALS_KEY: "
            "replace that secret instead, and keep the old public key in "
            f"{key_dir()} as a .pub.pem file.",
        )
    with _lock:
        _write_private(key_dir(), key_generate_pem())
        _cache.clear()
    return signing_key()


def keys_forget() -> None:
    """Drop the in-process cache (tests, or after replacing files by hand)."""
    with _lock:
        _cache.clear()
