"""The PDF certificate in English and Chinese, with a QR code to its public
verification page. Chinese needs a CJK font (``make setup`` installs one)."""

import shutil
import subprocess

import pytest
import segno
from django.urls import reverse

from grading.credentials.pdf import (
    CJK_FONTS,
    certificate_html,
    certificate_pdf,
    qr_data_uri,
)
from grading.credentials.selectors import verification_url

pytestmark = pytest.mark.engine_free


def _text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF")
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return subprocess.run(  # noqa: S603
        ["pdftotext", str(path), "-"],  # noqa: S607
        capture_output=True,
        check=True,
        text=True,
    ).stdout


def _cjk_font_installed() -> bool:
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(  # noqa: S603
        ["fc-list", ":lang=zh", "family"],  # noqa: S607
        capture_output=True,
        text=True,
    ).stdout
    return any(name in found for name in CJK_FONTS)


def test_the_english_pdf_names_the_holder_programme_and_verification_link(
    certificate, tmp_path
):
    pdf = certificate_pdf(certificate=certificate, language="en")
    text = " ".join(_text(pdf, tmp_path).split())

    assert pdf.startswith(b"%PDF")
    assert "Cross-border E-commerce and Silk Road Trade" in text
    assert certificate.user.display_name in text
    compact = text.replace(" ", "")
    assert "https://academy.example:8443/verify/" in compact
    assert str(certificate.pk) in compact


def test_the_chinese_pdf_shows_the_chinese_text(certificate, tmp_path):
    """The CJK font is named by the stylesheet and embedded; the Chinese title
    and wording come out of the PDF as text."""
    if not _cjk_font_installed():
        pytest.skip(
            "No CJK font installed (run `make setup` as root, or apt-get install "
            "fonts-wqy-microhei): the Chinese text would render as empty boxes"
        )
    pdf = certificate_pdf(certificate=certificate, language="zh-hans")

    text = "".join(_text(pdf, tmp_path).split())
    fonts = subprocess.run(  # noqa: S603
        ["pdffonts", str(tmp_path / "certificate.pdf")],  # noqa: S607
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert any(name.replace(" ", "-") in fonts for name in CJK_FONTS), fonts
    assert "跨境电子商务" in text
    assert "兹证明" in text


def test_the_qr_code_points_at_the_verification_page(certificate):
    """The QR code in both editions encodes exactly the absolute /verify/<id>
    address (built from SITE_URL)."""
    url = verification_url(certificate)
    qr = segno.make(url, error="m")

    assert url == f"https://academy.example:8443/verify/{certificate.pk}"
    assert qr.designator  # a real QR symbol, not a placeholder
    for language in ("en", "zh-hans"):
        html = certificate_html(certificate=certificate, language=language)
        assert qr_data_uri(url) in html
        assert qr.svg_data_uri(scale=4, border=2) in html


def test_the_pdf_downloads_for_the_holder_only(
    client, trainee, other_trainee, certificate
):
    url = reverse("grading:certificate_pdf", args=[certificate.pk, "zh-hans"])
    client.force_login(other_trainee)
    assert client.get(url).status_code == 404

    client.force_login(trainee)
    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "zh-hans.pdf" in response["Content-Disposition"]
    assert (
        client.get(
            reverse("grading:certificate_pdf", args=[certificate.pk, "fr"])
        ).status_code
        == 404
    )
