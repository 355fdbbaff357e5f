"""Bitstring Status List v1.0: the revocation bits, encoded, signed and cached.

Bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (index 0 is the most significant
bit of the first byte). ``encodedList`` is multibase base64url (prefix ``u``, no
padding) of the GZIP of the bits. The list is published as a
``BitstringStatusListCredential`` secured as a VC-JWT like the certificates; the
signed token is kept in the shared cache and dropped whenever a bit changes, so a
revocation shows at once in every process.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import threading
import zlib

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from grading.credentials import keys
from grading.credentials.jose import CredentialError, credential_sign
from grading.credentials.models import StatusList

MIN_BITS = 131072  # 16 KB, the specification's minimum
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
_CACHE_PREFIX = "credentials:status-list:"
_MAX_DECODED = 16 * 1024 * 1024  # refuse gzip bombs

# Verified lists by token digest: one signature check per published version.
_verified: dict[str, bytes] = {}
_verified_lock = threading.Lock()


# --- Bits -----------------------------------------------------------------------------


def bits_new(size: int) -> bytes:
    if size < MIN_BITS or size % 8:
        raise ValueError("A status list holds at least 131072 bits, whole bytes.")
    return bytes(size // 8)


def bit_get(bits: bytes, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def bit_set(bits: bytes, index: int, value: bool = True) -> bytes:
    data = bytearray(bits)
    if value:
        data[index // 8] |= 0x80 >> (index % 8)
    else:
        data[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    return bytes(data)


def bits_encode(bits: bytes) -> str:
    """Multibase base64url (``u``, no padding) of the GZIP of ``bits``."""
    packed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def bits_decode(encoded: str) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise CredentialError("status", "The status list is not multibase base64url.")
    body = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=31)  # gzip framing
        bits = inflater.decompress(packed, _MAX_DECODED)
    except (binascii.Error, ValueError, zlib.error) as error:
        raise CredentialError("status", "The status list cannot be decoded.") from error
    if inflater.unconsumed_tail or len(bits) * 8 < MIN_BITS:
        raise CredentialError("status", "The status list has the wrong size.")
    return bits


# --- Publishing -----------------------------------------------------------------------


def status_list_url(list_id: int) -> str:
    path = reverse("credentials:status_list", args=[list_id])
    return settings.SITE_URL.rstrip("/") + path


def status_list_document(status_list: StatusList) -> dict:
    """The unsigned BitstringStatusListCredential for ``status_list``."""
    url = status_list_url(status_list.pk)
    now = timezone.now().replace(microsecond=0)
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": keys.issuer_did(),
        "validFrom": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": status_list.purpose,
            "encodedList": bits_encode(bytes(status_list.bits)),
        },
    }


def status_list_signed(list_id: int) -> str | None:
    """The published (signed) status list credential, or None if there is none."""
    cache_key = f"{_CACHE_PREFIX}{list_id}"
    token = cache.get(cache_key)
    if token is None:
        status_list = StatusList.objects.filter(pk=list_id).first()
        if status_list is None:
            return None
        signer = keys.signing_key()
        token = credential_sign(
            status_list_document(status_list),
            key=signer.key,
            kid=signer.kid,
            issued_at=int(timezone.now().timestamp()),
        )
        cache.set(cache_key, token, settings.CREDENTIALS_STATUS_CACHE_SECONDS)
    return token


def status_list_forget(list_id: int) -> None:
    """Drop the published list so the next reader signs the current bits."""
    cache.delete(f"{_CACHE_PREFIX}{list_id}")


def verified_bits(token: str, decode, *, scope: str = "") -> bytes:
    """The bits of a published list token, checked once per token by ``decode``
    (which verifies the signature and returns the payload). ``scope`` names the
    trust ``decode`` stands for: a list verified under one is not taken as
    verified under another."""
    digest = hashlib.sha256(f"{scope}\0{token}".encode()).hexdigest()
    bits = _verified.get(digest)
    if bits is None:
        payload = decode(token)
        subject = payload.get("credentialSubject")
        types = payload.get("type") or []
        if (
            not isinstance(subject, dict)
            or "BitstringStatusListCredential" not in types
            or subject.get("type") != "BitstringStatusList"
        ):
            raise CredentialError("status", "Not a BitstringStatusListCredential.")
        bits = bits_decode(subject.get("encodedList"))
        with _verified_lock:
            if len(_verified) > 256:
                _verified.clear()
            _verified[digest] = bits
    return bits
