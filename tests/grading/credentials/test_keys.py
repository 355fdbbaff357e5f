"""The issuer's keys: files 0600 under var/, never in the database, taken from the
environment when given, rotated without breaking earlier credentials."""

import stat
from pathlib import Path

import pytest
from django.core import serializers
from django.core.management import CommandError, call_command

from grading.credentials import keys
from grading.credentials.jose import key_generate_pem
from grading.credentials.verify import credential_verify
from grading.models import Certificate, StatusList
from tests.factories import UserFactory


def test_a_generated_key_is_a_0600_file_in_a_0700_folder(issuer_keys, certificate):
    files = list(Path(issuer_keys).glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(issuer_keys).stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in files[0].read_bytes()


def test_the_default_key_folder_is_under_the_ignored_var_folder():
    """Unconfigured, keys go to VAR_DIR/keys/issuer, and var/ is git-ignored."""
    from lms import settings as base

    default = Path(base.CREDENTIALS_KEY_DIR)
    assert default.is_relative_to(base.VAR_DIR)
    if base.VAR_DIR.is_relative_to(base.BASE_DIR):
        ignored = (base.BASE_DIR / ".gitignore").read_text().split()
        assert f"/{base.VAR_DIR.relative_to(base.BASE_DIR)}/" in ignored


def test_no_private_key_material_reaches_the_database(issuer_keys, certificate):
    """Neither the PEM nor the private scalar d is in any certificate or list row,
    and the JWKS has no private member."""
    pem = next(Path(issuer_keys).glob("*.pem")).read_text()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    private_d = keys.signing_key().key.export_private(as_dict=True)["d"]
    dumped = serializers.serialize(
        "json", [*Certificate.objects.all(), *StatusList.objects.all()]
    )
    assert body not in dumped and private_d not in dumped
    assert all("d" not in k.public_jwk for k in keys.verification_keys())


def test_rotation_keeps_old_credentials_verifying(client, issue, certificate):
    """After rotate_issuer_key a new certificate carries the new kid, the old one
    still verifies, and the JWKS and DID document list both keys."""
    old_kid = certificate.key_id
    call_command("rotate_issuer_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    newer = issue(user=UserFactory())

    assert newer.key_id != old_kid
    assert newer.key_id == keys.signing_key().kid
    assert credential_verify(certificate.jwt).status == "valid"
    assert credential_verify(newer.jwt).status == "valid"
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {old_kid, newer.key_id}
    did = client.get("/.well-known/did.json").json()
    assert set(did["assertionMethod"]) == {old_kid, newer.key_id}


def test_a_retired_public_key_still_verifies(issuer_keys, certificate):
    """An old key kept as its public part alone (.pub.pem) still verifies."""
    private = next(Path(issuer_keys).glob("*.pem"))
    public = keys.signing_key().key.export_to_pem(private_key=False)
    private.with_name("20000101T000000000000Z.pub.pem").write_bytes(public)
    private.unlink()
    keys.keys_forget()

    assert keys.signing_key().kid != certificate.key_id  # a new key was made
    assert credential_verify(certificate.jwt).status == "valid"


def test_a_key_from_the_environment_signs(settings, issue, issuer_keys):
    """CREDENTIALS_KEY (PEM text) signs; the key folder is left alone."""
    pem = key_generate_pem()
    settings.CREDENTIALS_KEY = pem.decode()
    from jwcrypto.jwk import JWK

    expected = JWK.from_pem(pem).thumbprint()
    certificate = issue()
    assert certificate.key_id.endswith("#" + expected)
    assert not Path(issuer_keys).exists()
    assert credential_verify(certificate.jwt).status == "valid"
    with pytest.raises(CommandError):
        call_command("rotate_issuer_key")


def test_a_key_file_and_a_did_from_settings_are_honoured(settings, tmp_path, issue):
    path = tmp_path / "issuer.pem"
    path.write_bytes(key_generate_pem())
    settings.CREDENTIALS_KEY_FILE = str(path)
    settings.CREDENTIALS_ISSUER_DID = "did:web:certs.example"

    certificate = issue()

    assert certificate.key_id.startswith("did:web:certs.example#")
    assert certificate.credential["issuer"]["id"] == "did:web:certs.example"
    assert credential_verify(certificate.jwt).verified


def test_the_did_encodes_the_port(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    assert keys.issuer_did() == "did:web:127.0.0.1%3A8000"
    settings.SITE_URL = "https://academy.example/"
    assert keys.issuer_did() == "did:web:academy.example"
