"""The printable certificate: HTML rendered to PDF by WeasyPrint, in English or
Chinese, with a QR code (segno) to the public verification page.

The CJK font is installed by ``make setup`` (``cjk-font``); the stylesheet names it
first for Chinese, then falls back to the fonts every machine has.
"""

from __future__ import annotations

import segno
from django.template.loader import render_to_string
from django.utils import timezone, translation

from grading.credentials.document import programme_edition
from grading.credentials.models import Certificate
from grading.credentials.selectors import certificate_state, verification_url

LANGUAGES = ("en", "zh-hans")
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC")


def qr_data_uri(url: str) -> str:
    """An SVG QR code of ``url`` as a data URI (medium error correction)."""
    return segno.make(url, error="m").svg_data_uri(scale=4, border=2)


def certificate_html(*, certificate: Certificate, language: str) -> str:
    """The certificate's printable HTML in ``language`` (English if unknown)."""
    language = language if language in LANGUAGES else "en"
    programme = programme_edition(certificate.programme.specific, language)
    link = verification_url(certificate)
    with translation.override(language):
        return render_to_string(
            "grading/credentials/certificate_pdf.html",
            {
                "certificate": certificate,
                "programme": programme,
                "skills": [
                    skill.get_translation_or_none(programme.locale) or skill
                    for skill in certificate.programme.specific.skills.all()
                ],
                "state": certificate_state(certificate),
                "holder": certificate.user.display_name or certificate.user.username,
                "verification_url": link,
                "qr": qr_data_uri(link),
                "cjk_fonts": CJK_FONTS,
                "language": language,
                "issued": timezone.localtime(certificate.issued_at).date(),
                "until": (
                    timezone.localtime(certificate.valid_until).date()
                    if certificate.valid_until
                    else None
                ),
            },
        )


def certificate_pdf(*, certificate: Certificate, language: str) -> bytes:
    """The certificate as a one-page A4 landscape PDF in ``language``."""
    from weasyprint import HTML

    html = certificate_html(certificate=certificate, language=language)
    return HTML(string=html, base_url=verification_url(certificate)).write_pdf()
