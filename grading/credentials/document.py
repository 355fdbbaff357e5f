"""The OpenBadgeCredential of a certificate (Open Badges 3.0 on VC Data Model 2.0).

Choices, with the specification's reasons:

- ``id`` is ``urn:uuid:<certificate id>``: OB 3.0 and VC 2.0 ask only for a URI,
  and a URN stays true if the site moves; the credential is still served at
  ``/credentials/<id>``.
- The holder is named by ``identifier``: an ``IdentityObject`` whose
  ``identityHash`` is the salted SHA-256 of the email address, never the address
  itself. There is no ``credentialSubject.id`` (trainees have no DID), so the JWT
  has no ``sub``.
- The achievement is written in English (``inLanguage`` "en"); its Chinese edition
  is named by ``related`` (OB 3.0: "primarily intended to identify alternate
  language editions"), with the Chinese name and description carried on that
  entry.
- ``alignment``: one per programme skill, ``targetType`` "ceasn:Competency" (OB
  3.0's alignment target types have no "Skill"); ``targetUrl`` is the framework
  URI, or, for a code-only framework, the skill's place on the programme page.
- ``evidence`` names each graded notebook by an RFC 6920 ``ni:`` URI of its
  SHA-256, so the evidence is identified by its content without being published.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from wagtail.models import Locale, Page

from courses.models import ProgrammePage, SkillFramework
from grading.credentials import keys
from grading.credentials.models import Certificate
from grading.credentials.status import status_list_url

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CHINESE = "zh-hans"


def isoformat(moment: datetime) -> str:
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def site_url(path: str = "/") -> str:
    return settings.SITE_URL.rstrip("/") + path


def credential_url(certificate_id) -> str:
    return site_url(reverse("credentials:credential", args=[certificate_id]))


def page_url(page: Page) -> str:
    url = page.get_url()
    if not url:
        return site_url()
    return url if url.startswith("http") else site_url(url)


def programme_edition(programme: ProgrammePage, language: str) -> ProgrammePage:
    """The programme in ``language`` if it has been translated, else itself."""
    locale = Locale.objects.filter(language_code=language).first()
    edition = programme.get_translation_or_none(locale) if locale else None
    return edition.specific if edition else programme


def identity_hash(email: str, salt: str) -> str:
    digest = hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()
    return f"sha256${digest}"


def notebook_uri(sha256_hex: str) -> str:
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).decode()
    return "ni:///sha-256;" + digest.rstrip("=")


def _framework_label(framework: str) -> str:
    with translation.override("en"):
        return str(SkillFramework(framework).label)


def _alignment(target, url: str, description: str = "") -> dict:
    """An Open Badges Alignment for a skill or one of its further alignments."""
    entry = {
        "type": ["Alignment"],
        "targetName": target.name,
        "targetUrl": target.uri or url,
        "targetType": "ceasn:Competency",
        "targetFramework": _framework_label(target.framework),
    }
    if description:
        entry["targetDescription"] = description
    if target.code:
        entry["targetCode"] = target.code
    return entry


def alignments(programme: ProgrammePage) -> list[dict]:
    """Each skill's own alignment, then those of the other frameworks it covers."""
    programme_link = page_url(programme)
    found = []
    for skill in programme.skills.prefetch_related("alignments").order_by("key"):
        anchor = f"{programme_link}#skill-{skill.key}"
        found.append(_alignment(skill, anchor, skill.description))
        found.extend(_alignment(other, anchor) for other in skill.alignments.all())
    return found


def _result_parts(achievement_id: str, results: list[dict]) -> tuple[list, list]:
    descriptions, entries = [], []
    for position, result in enumerate(results, start=1):
        key = str(result.get("key") or position)
        description_id = f"{achievement_id}#result-{key}"
        description = {
            "id": description_id,
            "type": ["ResultDescription"],
            "name": str(result["name"]),
            "resultType": result.get("resultType", "Percent"),
        }
        for field in ("valueMin", "valueMax", "requiredValue"):
            if result.get(field) is not None:
                description[field] = str(result[field])
        descriptions.append(description)
        entry = {
            "type": ["Result"],
            "resultDescription": description_id,
            "value": str(result["value"]),
        }
        if result.get("status"):
            entry["status"] = result["status"]
        entries.append(entry)
    return descriptions, entries


def _evidence(evidence: list[dict]) -> list[dict]:
    found = []
    for item in evidence:
        sha256 = str(item["sha256"]).lower()
        entry = {
            "id": notebook_uri(sha256),
            "type": ["Evidence"],
            "name": str(item["name"]),
            "description": f"SHA-256 {sha256}",
            "genre": str(item.get("genre", "Jupyter notebook")),
        }
        found.append(entry)
    return found


def _listed(names: list[str]) -> str:
    return "; ".join(names)


def criteria_narrative(programme: ProgrammePage) -> str:
    """What the programme's certificate rule asks for, said in the credential: the
    chosen courses, quiz lessons and labs with their pass marks, never more than
    was checked. Without a rule, the programme's everything."""
    from grading.credentials.rules import CertificateRule

    rule = CertificateRule.objects.filter(programme=programme).first()
    if rule is None:
        return (
            f"Complete every course of the {programme.title} programme and pass its "
            "quizzes and graded labs at the pass marks the programme sets."
        )
    parts = []
    courses = [c.title for c in rule.courses.order_by("path")]
    if courses:
        parts.append(f"complete every lesson of {_listed(courses)}")
    lessons = [lesson.title for lesson in rule.quiz_lessons.order_by("path")]
    if lessons:
        mark = (
            f"at least {rule.quiz_pass_mark}%"
            if rule.quiz_pass_mark is not None
            else "each quiz's own pass mark"
        )
        parts.append(f"pass the quizzes of {_listed(lessons)} ({mark})")
    labs = list(rule.labs.order_by("slug"))
    if labs:
        own = rule.lab_pass_mark is None
        marks = [
            f"{lab.title} ({lab.pass_mark if own else rule.lab_pass_mark}%)"
            for lab in labs
        ]
        parts.append(f"pass the graded labs {_listed(marks)}")
    if not parts:
        return f"Awarded by the academy for the {programme.title} programme."
    return f"For the {programme.title} programme: " + ", and ".join(parts) + "."


def credential_build(*, certificate: Certificate) -> dict:
    """The unsigned OpenBadgeCredential of ``certificate`` (not yet saved)."""
    programme = certificate.programme.specific
    english = programme_edition(programme, settings.LANGUAGE_CODE)
    chinese = programme_edition(programme, CHINESE)
    achievement_id = page_url(english)
    descriptions, results = _result_parts(achievement_id, certificate.results)
    user = certificate.user
    salt = secrets.token_hex(16)

    with translation.override("en"):
        narrative = criteria_narrative(english)
    achievement = {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": "Certificate",
        "name": english.title,
        "description": english.summary,
        "criteria": {"id": achievement_id, "narrative": narrative},
        "inLanguage": "en",
        "alignment": alignments(english),
    }
    if chinese.pk != english.pk:
        achievement["related"] = [
            {
                "id": page_url(chinese),
                "type": ["Related"],
                "inLanguage": "zh-Hans",
                "name": chinese.title,
                "description": chinese.summary,
            }
        ]
    if descriptions:
        achievement["resultDescription"] = descriptions

    subject = {
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "hashed": True,
                "identityHash": identity_hash(user.email, salt),
                "identityType": "emailAddress",
                "salt": salt,
            }
        ],
        "achievement": achievement,
    }
    if results:
        subject["result"] = results

    document = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{certificate.pk}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {
            "id": keys.issuer_did(),
            "type": ["Profile"],
            "name": settings.CREDENTIALS_ISSUER_NAME,
            "url": site_url(),
        },
        "validFrom": isoformat(certificate.valid_from),
        "name": english.title,
        "credentialSubject": subject,
        "credentialStatus": {
            "id": f"{status_list_url(certificate.status_list_id)}"
            f"#{certificate.status_index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(certificate.status_index),
            "statusListCredential": status_list_url(certificate.status_list_id),
        },
    }
    if certificate.valid_until:
        document["validUntil"] = isoformat(certificate.valid_until)
    if certificate.evidence:
        document["evidence"] = _evidence(certificate.evidence)
    return document
