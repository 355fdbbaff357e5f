"""The verdict on a credential, from cryptography alone.

``credential_verify`` takes what an employer has: a compact VC-JWT, or JSON (the
VC 2.0 ``EnvelopedVerifiableCredential`` with a ``data:application/vc+jwt,`` id,
a JSON string holding the JWT, or a credential with an embedded ``proof`` that
carries the JWT). It runs the checks in order (format, issuer, key, signature,
validity, status) and never raises: bad input is an ``invalid`` verdict with a
reason. The database is not asked whether a certificate exists; the status bit is
read from the published, signed status list, whose signature is checked too.

Pure functions of their input (no request), for the pages, the API, bulk checks
and the offline command alike. Where the trust comes from is pluggable: a
``Trust`` names the issuer expected, resolves a ``kid`` to a key and a
``statusListCredential`` URL to its signed token. ``ONLINE`` (the default) uses
our own key set and the status lists in the database and shared cache; the offline
command passes one that reads a DID document over HTTP or pinned files.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from grading.credentials import keys, status
from grading.credentials.jose import (
    CredentialError,
    credential_decode,
    header_check,
    signature_check,
    token_parts,
)

MAX_INPUT_BYTES = 1024 * 1024
ENVELOPE_PREFIX = "data:application/vc+jwt,"
log = logging.getLogger(__name__)
CHECKS = ("format", "issuer", "key", "signature", "validity", "status")


class Status:
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INVALID = "invalid"
    UNKNOWN = "unknown"


@dataclass
class Check:
    name: str
    passed: bool | None  # None: not checked (an earlier check failed)
    reason: str

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "reason": self.reason}


@dataclass
class Verification:
    """The verdict. ``credential`` is the verified payload (None unless the
    signature holds), for pages that show what was verified."""

    verified: bool
    status: str
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    credential: dict | None = None

    def as_dict(self) -> dict:
        """The public answer (shared/DESIGN.md): verified, status, checks, errors."""
        return {
            "verified": self.verified,
            "status": self.status,
            "checks": [check.as_dict() for check in self.checks],
            "errors": list(self.errors),
        }


class _Failed(Exception):
    def __init__(
        self,
        check: str,
        reason: str,
        status: str = Status.INVALID,
        passed: bool | None = False,
    ):
        super().__init__(reason)
        self.check, self.reason, self.status = check, reason, status
        # None: the check could not be made (e.g. the status list is unreachable);
        # still a failure of the verdict, never taken as passed.
        self.passed = passed


class KeyUnavailable(Exception):
    """A key resolver could not reach the issuer's keys at all (not: the key is
    unknown, which is ``None``). The key check is then "not checked"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StatusListUnavailable(Exception):
    """A status list resolver cannot give the list. ``checked`` False: the status
    is not known (reported "not checked", never as valid); ``status`` is the
    verdict this failure leads to."""

    def __init__(
        self, reason: str, *, status: str = Status.UNKNOWN, checked: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason, self.status, self.checked = reason, status, checked


@dataclass(frozen=True)
class Trust:
    """Where a verification takes the issuer, its keys and its status lists from.

    ``issuer()``: the DID credentials must be issued by; ``key(kid)``: that
    issuer's public key named ``kid``, None if it has none such (or raise
    ``KeyUnavailable``); ``status_list(url)``: the signed status list credential
    published at ``url`` (or raise ``StatusListUnavailable``). ``scope`` keeps the
    verified-list cache of one trust apart from another's.
    """

    issuer: Callable[[], str]
    key: Callable[[str], object | None]
    status_list: Callable[[str], str]
    scope: str = "online"


# --- Reading the input ------------------------------------------------------------


def _token_from_json(value) -> tuple[str, dict | None]:
    """The compact JWS in a JSON value, and the document shown beside it if any."""
    if isinstance(value, str):
        return value.strip(), None
    if not isinstance(value, dict):
        raise _Failed("format", _("The JSON is not a credential object."))
    types = value.get("type")
    types = [types] if isinstance(types, str) else types or []
    if "EnvelopedVerifiableCredential" in types:
        ident = value.get("id")
        if not isinstance(ident, str) or not ident.startswith(ENVELOPE_PREFIX):
            raise _Failed(
                "format",
                _("An enveloped credential must hold a data:application/vc+jwt URL."),
            )
        return ident[len(ENVELOPE_PREFIX) :].strip(), None
    proof = value.get("proof")
    proofs = proof if isinstance(proof, list) else [proof] if proof else []
    for entry in proofs:
        if isinstance(entry, dict) and isinstance(entry.get("jwt"), str):
            document = {k: v for k, v in value.items() if k != "proof"}
            return entry["jwt"].strip(), document
    if proofs:
        raise _Failed(
            "format",
            _("This proof type is not supported: verify the credential's VC-JWT."),
        )
    raise _Failed("format", _("The credential carries no proof."))


def _read(data) -> tuple[str, dict | None]:
    if isinstance(data, dict | list):
        return _token_from_json(data)
    if isinstance(data, bytes | bytearray | memoryview):
        if len(data) > MAX_INPUT_BYTES:
            raise _Failed("format", _("The credential is too large."))
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise _Failed("format", _("The credential is not UTF-8 text.")) from None
    if not isinstance(data, str):
        raise _Failed("format", _("Nothing to verify."))
    if len(data) > MAX_INPUT_BYTES:
        raise _Failed("format", _("The credential is too large."))
    text = data.strip().lstrip("\ufeff")
    if not text:
        raise _Failed("format", _("Nothing to verify."))
    if text[0] in '{["':
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # nested deeper than the parser goes
            raise _Failed("format", _("The JSON cannot be read.")) from None
        return _token_from_json(value)
    return text, None


# --- The checks ------------------------------------------------------------------


def _types(value) -> list:
    return (
        [value] if isinstance(value, str) else value if isinstance(value, list) else []
    )


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _check_format(payload: dict, document: dict | None) -> None:
    types = _types(payload.get("type"))
    contexts = payload.get("@context")
    if (
        "VerifiableCredential" not in types
        or not {"OpenBadgeCredential", "AchievementCredential"} & set(types)
        or not isinstance(contexts, list)
        or not contexts
        or contexts[0] != "https://www.w3.org/ns/credentials/v2"
    ):
        raise _Failed("format", _("This is not an Open Badges 3.0 credential."))
    for name in ("id", "validFrom", "credentialSubject", "issuer"):
        if not payload.get(name):
            raise _Failed(
                "format", _("The credential has no %(field)s.") % {"field": name}
            )
    if payload.get("jti") != payload.get("id"):
        raise _Failed("format", _("The token's jti differs from the credential id."))
    subject = payload.get("credentialSubject")
    if isinstance(subject, dict) and subject.get("id") != payload.get("sub"):
        raise _Failed("format", _("The token's sub differs from the subject id."))
    if document is not None:
        # Compared as JSON, not as Python values: Python finds true == 1 and
        # 86 == 86.0, a JSON reader does not.
        signed = {k: v for k, v in payload.items() if k in document}
        if _canonical(signed) != _canonical(document) or set(document) - set(payload):
            raise _Failed(
                "format", _("The credential's JSON differs from what was signed.")
            )


def _check_issuer(payload: dict, trust: Trust) -> None:
    issuer = payload.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if issuer_id != payload.get("iss"):
        raise _Failed("issuer", _("The credential's issuer differs from the token's."))
    if payload.get("iss") != trust.issuer():
        raise _Failed("issuer", _("The credential was not issued by this academy."))


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _check_validity(payload: dict, now: datetime) -> None:
    valid_from = _moment(payload.get("validFrom"))
    valid_until = payload.get("validUntil")
    if valid_from is None or payload.get("nbf") != int(valid_from.timestamp()):
        raise _Failed("validity", _("The validity dates are malformed."))
    if valid_until is not None:
        until = _moment(valid_until)
        if until is None or payload.get("exp") != int(until.timestamp()):
            raise _Failed("validity", _("The validity dates are malformed."))
    elif "exp" in payload:
        raise _Failed("validity", _("The validity dates are malformed."))
    if now < valid_from:
        raise _Failed("validity", _("The credential is not valid yet."))
    if valid_until is not None and now >= _moment(valid_until):
        raise _Failed(
            "validity",
            _("The credential expired on %(date)s.") % {"date": valid_until},
            Status.EXPIRED,
        )


def _status_list_id(url) -> int | None:
    from grading.credentials.status import status_list_url

    if not isinstance(url, str):
        return None
    prefix = status_list_url(0)[:-1]
    tail = url[len(prefix) :] if url.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def online_status_list(url: str) -> str:
    """Our own published list for ``url`` (database and shared cache)."""
    list_id = _status_list_id(url)
    if list_id is None:
        raise StatusListUnavailable(
            _("The credential's status entry is malformed."), status=Status.INVALID
        )
    token = status.status_list_signed(list_id)
    if token is None:
        raise StatusListUnavailable(_("The credential's status list is not published."))
    return token


ONLINE = Trust(
    issuer=keys.issuer_did,
    key=keys.key_resolve,
    status_list=online_status_list,
    scope="online",
)


def _status_list_decoder(trust: Trust, url: str):
    def decode(token: str) -> dict:
        try:
            _header, payload = credential_decode(token, trust.key)
        except KeyUnavailable as error:
            raise CredentialError("status", error.reason) from None
        if payload.get("iss") != trust.issuer():
            raise CredentialError("status", "The status list is not the issuer's.")
        if payload.get("id") != url:
            raise CredentialError("status", "The status list is another list.")
        return payload

    return decode


def _check_status(payload: dict, trust: Trust) -> None:
    entry = payload.get("credentialStatus")
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        raise _Failed("status", _("The credential has no status list entry."))
    if entry.get("statusPurpose") != "revocation":
        raise _Failed("status", _("The credential has no status list entry."))
    index = entry.get("statusListIndex")
    url = entry.get("statusListCredential")
    if not isinstance(index, str) or not index.isdigit() or not isinstance(url, str):
        raise _Failed("status", _("The credential's status entry is malformed."))
    try:
        token = trust.status_list(url)
    except StatusListUnavailable as error:
        raise _Failed(
            "status", error.reason, error.status, False if error.checked else None
        ) from None
    try:
        bits = status.verified_bits(
            token, _status_list_decoder(trust, url), scope=trust.scope
        )
    except CredentialError:
        raise _Failed(
            "status", _("The published status list cannot be verified."), Status.UNKNOWN
        ) from None
    if int(index) >= len(bits) * 8:
        raise _Failed("status", _("The credential's status entry is malformed."))
    if status.bit_get(bits, int(index)):
        raise _Failed("status", _("The credential has been revoked."), Status.REVOKED)


# --- The verdict -----------------------------------------------------------------


_PASSED = {
    "format": lambda trust: _("A well-formed Open Badges 3.0 credential (VC-JWT)."),
    "issuer": lambda trust: _("Issued by %(issuer)s.") % {"issuer": trust.issuer()},
    "key": lambda trust: _("Signed with one of the issuer's published keys."),
    "signature": lambda trust: _("The Ed25519 signature matches the credential."),
    "validity": lambda trust: _("Within its validity period."),
    "status": lambda trust: _("Not revoked."),
}


def _verdict(checks: list[Check], failures: list[_Failed], payload) -> Verification:
    for name in CHECKS[len(checks) :]:
        checks.append(Check(name, None, _("Not checked.")))
    if not failures:
        return Verification(True, Status.VALID, checks, [], payload)
    order = [Status.INVALID, Status.UNKNOWN, Status.REVOKED, Status.EXPIRED]
    verdict = min((f.status for f in failures), key=order.index)
    return Verification(False, verdict, checks, [f.reason for f in failures], payload)


def credential_verify(
    data, *, now: datetime | None = None, trust: Trust | None = None
) -> Verification:
    """Verify a credential (str, bytes or parsed JSON); never raises. ``trust``:
    where keys and status lists come from (``ONLINE`` unless told)."""
    now = now or timezone.now()
    trust = trust or ONLINE
    checks: list[Check] = []
    failures: list[_Failed] = []

    def run(name: str, step) -> bool:
        try:
            step()
        except _Failed as failure:
            checks.append(Check(name, failure.passed, failure.reason))
            failures.append(failure)
            return False
        checks.append(Check(name, True, _PASSED[name](trust)))
        return True

    state: dict = {}

    def read() -> None:
        token, document = _read(data)
        try:
            state["header"], state["payload"] = token_parts(token)
        except CredentialError:
            raise _Failed("format", _("This is not a compact JWS (VC-JWT).")) from None
        state["token"] = token
        _check_format(state["payload"], document)

    def key() -> None:
        try:
            kid = header_check(state["header"])
        except CredentialError as error:
            if error.code == "algorithm":
                raise _Failed(
                    "key",
                    _("Signature algorithm %(alg)s is refused: only EdDSA.")
                    % {"alg": json.dumps(state["header"].get("alg"))},
                ) from None
            raise _Failed("key", _("The token names no signing key.")) from None
        try:
            found = trust.key(kid)
        except KeyUnavailable as error:
            raise _Failed("key", error.reason, Status.UNKNOWN, None) from None
        if found is None:
            raise _Failed("key", _("The signing key is not one of the issuer's keys."))

    def signature() -> None:
        try:
            signature_check(state["token"], state["header"], trust.key)
        except CredentialError:
            raise _Failed("signature", _("The signature does not match.")) from None
        state["verified"] = state["payload"]

    try:
        if not run("format", read):
            return _verdict(checks, failures, None)
        payload = state["payload"]
        run("issuer", lambda: _check_issuer(payload, trust))
        if not run("key", key) or not run("signature", signature):
            return _verdict(checks, failures, None)
        run("validity", lambda: _check_validity(payload, now))
        run("status", lambda: _check_status(payload, trust))
        return _verdict(checks, failures, state["verified"])
    except Exception:  # never a 500 for a credential, whatever it holds
        log.exception("credential verification failed")
        reason = _("The credential cannot be read.")
        return _verdict(
            [Check("format", False, reason)], [_Failed("format", reason)], None
        )


def certificate_uuid(value) -> uuid.UUID | None:
    """``value`` as a certificate identifier, or None when it is not a UUID."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        return None


def not_found() -> Verification:
    return Verification(
        False, Status.UNKNOWN, [], [_("No credential has this identifier.")]
    )


def verify_by_id(certificate_id, *, trust: Trust | None = None) -> Verification:
    """Verify the credential stored for ``certificate_id`` with the same checks;
    an unknown id is ``unknown``."""
    from grading.credentials.models import Certificate

    key = certificate_uuid(certificate_id)
    jwt = (
        Certificate.objects.filter(pk=key).values_list("jwt", flat=True).first()
        if key
        else None
    )
    if jwt is None:
        return not_found()
    return credential_verify(jwt, trust=trust)
