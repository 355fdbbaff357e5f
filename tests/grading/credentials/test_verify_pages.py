"""The employer's pages: /verify/<id> and the /verify form, in English and Chinese.

Real certificates issued by ``certificate_issue`` and real signatures; the verdict
shown is the cryptographic one."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client

from grading.credentials import services
from tests.grading.credentials.helpers import b64, parts, with_payload

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def _page(client, certificate_id, headers=EN):
    return client.get(f"/verify/{certificate_id}", **headers)


def test_a_valid_certificate_in_english(client, certificate, trainee):
    """Valid, with the achievement, skills with framework codes, results, dates,
    the issuer, every check passed, and the holder's name from our records said
    to be from them (the credential only holds a hashed email)."""
    response = _page(client, certificate.pk)
    html = response.content.decode()
    subject = certificate.credential["credentialSubject"]
    alignment = subject["achievement"]["alignment"]

    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert "Valid" in html and "Revoked" not in html
    assert subject["achievement"]["name"] in html
    assert alignment[0]["targetName"] in html
    assert any(a.get("targetCode", "") in html for a in alignment if "targetCode" in a)
    assert "Landed cost lab" in html and "92" in html
    assert "Silkroute Academy" in html
    assert html.count("Passed") == 6
    assert trainee.display_name in html
    assert "not part of the signed credential" in html
    assert subject["identifier"][0]["identityHash"] in html
    assert trainee.email not in html


def test_a_valid_certificate_in_chinese(client, certificate):
    """The same page in Chinese: verdict, check names and outcomes translated."""
    html = _page(client, certificate.pk, ZH).content.decode()

    assert '<html lang="zh-Hans">' in html
    assert "有效" in html and "签名" in html and "通过" in html


@pytest.mark.parametrize("headers, word", [(EN, "Revoked"), (ZH, "已撤销")])
def test_a_revoked_certificate(client, certificate, headers, word):
    """Revocation shows at once, from the signed status list."""
    assert "Revoked" not in _page(client, certificate.pk).content.decode()
    services.certificate_revoke(certificate=certificate, reason="fraud", by=None)

    html = _page(client, certificate.pk, headers).content.decode()

    assert word in html
    assert "The credential has been revoked." in html or "该凭证已被撤销。" in html


def test_an_expired_certificate(client, issue):
    """Past its validUntil: expired, in both languages."""
    certificate = issue(valid_for=timedelta(seconds=1))
    time.sleep(2)

    english = _page(client, certificate.pk).content.decode()
    chinese = _page(client, certificate.pk, ZH).content.decode()

    assert "Expired" in english and "expired on" in english
    assert "已过期" in chinese


@pytest.mark.parametrize(
    "ident", ["7c1d3a52-0000-4000-8000-000000000000", "not-a-uuid", "1' OR 1=1"]
)
@pytest.mark.parametrize("headers, word", [(EN, "Not found"), (ZH, "未找到")])
def test_unknown_and_malformed_ids_are_not_found(db, client, ident, headers, word):
    """An unknown or malformed id: a 404 page that says not found."""
    response = _page(client, ident, headers)

    assert response.status_code == 404
    assert word in response.content.decode()


def test_the_page_has_no_language_prefix_and_a_switcher(client, certificate):
    """The QR code's URL is served as it is (no redirect); the language cookie
    chooses the language, and the switcher posts back to the same page."""
    response = client.get(f"/verify/{certificate.pk}")
    assert response.status_code == 200
    assert 'name="language" value="zh-hans"' in response.content.decode()
    assert f'value="/verify/{certificate.pk}"' in response.content.decode()

    client.post("/i18n/setlang/", {"language": "zh-hans"})
    assert "有效" in client.get(f"/verify/{certificate.pk}").content.decode()


# --- The form -------------------------------------------------------------------


def test_the_form_is_labelled(db, client):
    html = client.get("/verify").content.decode()

    assert '<label for="id_reference">' in html and '<label for="id_file">' in html
    assert 'aria-describedby="id_reference-help"' in html
    assert 'enctype="multipart/form-data"' in html


@pytest.mark.parametrize(
    "text",
    [
        "{id}",
        "https://academy.example/verify/{id}",
        "https://academy.example:8443/credentials/{id}?x=1",
        "see http://localhost:8000/en/whatever/{ID} please",
    ],
)
def test_pasting_an_id_or_a_link(client, certificate, text):
    """Any text holding a certificate id leads to that id's page."""
    reference = text.format(id=certificate.pk, ID=str(certificate.pk).upper())
    response = client.post("/verify", {"reference": reference}, **EN)

    assert response.status_code == 302
    assert response["Location"] == f"/verify/{certificate.pk}"


def test_pasted_text_without_an_id_is_an_error_on_the_field(db, client):
    response = client.post("/verify", {"reference": "hello"}, **EN)
    html = response.content.decode()

    assert response.status_code == 400
    assert 'id="id_reference-error"' in html and 'aria-invalid="true"' in html
    assert "No certificate id in this text" in html


def test_an_empty_form_is_an_error(db, client):
    response = client.post("/verify", {}, **ZH)

    assert response.status_code == 400
    assert "请粘贴" in response.content.decode()


def _upload(client, content: bytes, name="credential.json", headers=EN):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/verify", {"file": SimpleUploadedFile(name, content)}, **headers
    )


@pytest.mark.parametrize("form", ["jwt", "enveloped", "proof"])
def test_uploading_a_credential_file(client, certificate, form):
    """Every accepted file form verifies to the same result page."""
    content = {
        "jwt": certificate.jwt,
        "enveloped": json.dumps(
            {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": f"data:application/vc+jwt,{certificate.jwt}",
                "type": "EnvelopedVerifiableCredential",
            }
        ),
        "proof": json.dumps(
            certificate.credential
            | {"proof": {"type": "JwtProof2020", "jwt": certificate.jwt}}
        ),
    }[form]
    response = _upload(client, content.encode())
    html = response.content.decode()

    assert response.status_code == 200
    assert "Valid" in html and "Verified from the file you uploaded." in html
    assert certificate.credential["credentialSubject"]["achievement"]["name"] in html


def test_a_tampered_file_is_invalid_with_the_failing_check(client, certificate):
    """A changed score: invalid, the signature check failed, nothing shown of
    the unverified content."""
    _header, payload, _sig = parts(certificate.jwt)
    payload["credentialSubject"]["result"][0]["value"] = "100"
    response = _upload(client, with_payload(certificate.jwt, payload).encode())
    html = response.content.decode()

    assert response.status_code == 200
    assert "Invalid" in html
    assert "The signature does not match." in html
    assert "Failed" in html
    assert payload["credentialSubject"]["achievement"]["name"] not in html


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        b"\x00\xff\xfe\x89PNG\r\n" * 50,
        b"{not json",
        b"[]",
        b"null",
        b"a.b.c",
        ("e30." + b64(b"[1]") + ".AA").encode(),
    ],
)
def test_garbage_files_are_invalid_never_a_500(db, client, content):
    response = _upload(client, content)

    assert response.status_code == 200
    assert "Invalid" in response.content.decode()


def test_empty_and_huge_files_are_refused_on_the_field(db, client):
    empty = _upload(client, b"")
    huge = _upload(client, b"x" * (1024 * 1024 + 1))

    assert empty.status_code == huge.status_code == 400
    assert "id_file-error" in empty.content.decode()
    assert "at most 1 MB" in huge.content.decode()


def test_the_form_is_csrf_protected(certificate):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/verify", {"reference": str(certificate.pk)})

    assert response.status_code == 403
