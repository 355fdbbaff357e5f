"""Bitstring Status List encoding (W3C Bitstring Status List v1.0)."""

import base64
import gzip

import pytest

from grading.credentials import status
from grading.credentials.jose import CredentialError


def test_a_new_list_is_at_least_16_kb():
    assert len(status.bits_new(131072)) == 16 * 1024
    with pytest.raises(ValueError):
        status.bits_new(131064)


def test_index_zero_is_the_most_significant_bit_of_the_first_byte():
    bits = status.bit_set(status.bits_new(131072), 0)
    assert bits[0] == 0x80 and not any(bits[1:])
    bits = status.bit_set(bits, 9)
    assert bits[1] == 0x40
    last = status.bit_set(status.bits_new(131072), 131071)
    assert last[-1] == 0x01
    assert status.bit_get(last, 131071) and not status.bit_get(last, 131070)
    assert not status.bit_get(status.bit_set(last, 131071, False), 131071)


def test_encoded_list_is_multibase_base64url_of_gzip_and_round_trips():
    """'u' prefix, base64url alphabet without padding, GZIP (RFC 1952) inside."""
    bits = status.bit_set(status.bit_set(status.bits_new(131072), 3), 100000)
    encoded = status.bits_encode(bits)

    assert encoded.startswith("u")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    body = encoded[1:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert raw[:2] == b"\x1f\x8b"  # the gzip magic number
    assert gzip.decompress(raw) == bits
    assert status.bits_decode(encoded) == bits


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "zABC",
        "u!!!",
        "u" + base64.urlsafe_b64encode(b"not gzip").decode(),
        "u" + base64.urlsafe_b64encode(gzip.compress(b"\x00" * 100)).decode(),
    ],
)
def test_a_bad_encoded_list_is_refused(encoded):
    """Not multibase, not base64url, not gzip, or under 16 KB: a CredentialError."""
    with pytest.raises(CredentialError):
        status.bits_decode(encoded)


def test_the_status_list_credential_document(db, settings):
    """A BitstringStatusListCredential whose subject holds the encoded list."""
    from grading.credentials.services import status_list_current

    settings.SITE_URL = "https://academy.example"
    status_list = status_list_current()
    document = status.status_list_document(status_list)
    url = f"https://academy.example/credentials/status/{status_list.pk}"

    assert document["id"] == url
    assert document["type"] == [
        "VerifiableCredential",
        "BitstringStatusListCredential",
    ]
    assert document["credentialSubject"] == {
        "id": f"{url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": status.bits_encode(bytes(131072 // 8)),
    }
