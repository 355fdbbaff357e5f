"""Verification without our database: keys and status lists from the web or files.

The offline command builds a ``Trust`` from here: the issuer's keys come from a
pinned JWKS file, or from its ``did:web`` document fetched over HTTPS (plain HTTP
only for localhost); a status list comes from a pinned file, or from the
credential's ``statusListCredential`` URL. A list that cannot be had makes the
status "not checked", never "valid". Nothing here touches the database.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.utils.translation import gettext as _

from grading.credentials.jose import CredentialError, key_from_jwk
from grading.credentials.verify import (
    ENVELOPE_PREFIX,
    KeyUnavailable,
    StatusListUnavailable,
    Trust,
)

MAX_FETCH_BYTES = 2 * 1024 * 1024
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class FetchError(Exception):
    pass


def did_web_url(did: str) -> str:
    """The DID document's URL: ``did:web:host%3Aport[:path...]``."""
    if not did.startswith("did:web:"):
        raise FetchError(_("Only did:web issuers can be resolved."))
    host, *path = did.removeprefix("did:web:").split(":")
    host = unquote(host)
    hostname = urlsplit(f"//{host}").hostname or ""
    scheme = "http" if hostname in LOCAL_HOSTS else "https"
    tail = "/".join(unquote(part) for part in path) + "/" if path else ".well-known/"
    return f"{scheme}://{host}/{tail}did.json"


def fetch(url: str, *, accept: str, timeout: float) -> bytes:
    """GET ``url`` (https, or http for localhost), at most 2 MB."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
    ):
        raise FetchError(_("Only https addresses are fetched: %(url)s") % {"url": url})
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_FETCH_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise FetchError(f"HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise FetchError(str(reason)) from None
    if len(body) > MAX_FETCH_BYTES:
        raise FetchError(_("The answer is too large."))
    return body


def jwks_keys(jwks: dict, *, issuer: str) -> dict[str, object]:
    """kid → public key of a JWKS; a key is also found by ``issuer#thumbprint``."""
    found: dict[str, object] = {}
    for entry in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(entry, dict):
            continue
        try:
            key = key_from_jwk(entry)
        except CredentialError:
            continue
        if isinstance(entry.get("kid"), str):
            found[entry["kid"]] = key
        found[f"{issuer}#{key.thumbprint()}"] = key
    return found


def did_document_keys(document: dict, *, issuer: str) -> dict[str, object]:
    """The assertion keys of a DID document that is the issuer's own."""
    if not isinstance(document, dict) or document.get("id") != issuer:
        raise FetchError(_("The DID document is not the issuer's."))
    assertion = document.get("assertionMethod")
    allowed = None if assertion is None else set()
    for ref in assertion or []:
        ref = ref if isinstance(ref, str) else (ref or {}).get("id")
        if isinstance(ref, str):
            allowed.add(issuer + ref if ref.startswith("#") else ref)
    found: dict[str, object] = {}
    for method in document.get("verificationMethod", []):
        if not isinstance(method, dict) or not isinstance(method.get("id"), str):
            continue
        kid = issuer + method["id"] if method["id"].startswith("#") else method["id"]
        if (allowed is not None and kid not in allowed) or not isinstance(
            method.get("publicKeyJwk"), dict
        ):
            continue
        try:
            found[kid] = key_from_jwk(method["publicKeyJwk"])
        except CredentialError:
            continue
    return found


def _token_of(body: bytes) -> str:
    """A status list as served: a compact JWT, or the enveloped JSON."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            ident = json.loads(text).get("id", "")
        except (ValueError, AttributeError):
            return text
        if isinstance(ident, str) and ident.startswith(ENVELOPE_PREFIX):
            return ident[len(ENVELOPE_PREFIX) :]
    return text


def offline_trust(
    *,
    issuer: str,
    jwks_file: Path | None = None,
    status_list_file: Path | None = None,
    timeout: float = 10.0,
) -> Trust:
    """A trust for ``issuer`` that needs no database: see the module's doc."""
    state: dict = {}

    def load_keys() -> dict[str, object]:
        if "keys" not in state:
            if jwks_file is not None:
                state["keys"] = jwks_keys(
                    json.loads(Path(jwks_file).read_text()), issuer=issuer
                )
            else:
                try:
                    url = did_web_url(issuer)
                    body = fetch(url, accept="application/did+json", timeout=timeout)
                    state["keys"] = did_document_keys(json.loads(body), issuer=issuer)
                except (FetchError, ValueError) as error:
                    state["keys"] = KeyUnavailable(
                        _(
                            "Not checked: the issuer's DID document could not be "
                            "fetched from %(url)s (%(error)s)."
                        )
                        % {"url": _safe_url(issuer), "error": error}
                    )
        found = state["keys"]
        if isinstance(found, KeyUnavailable):
            raise found
        return found

    def key(kid: str) -> object | None:
        return load_keys().get(kid)

    def status_list(url: str) -> str:
        if status_list_file is not None:
            return _token_of(Path(status_list_file).read_bytes())
        try:
            body = fetch(url, accept="application/vc+jwt", timeout=timeout)
        except FetchError as error:
            raise StatusListUnavailable(
                _(
                    "Not checked: the status list could not be fetched from "
                    "%(url)s (%(error)s)."
                )
                % {"url": url, "error": error},
                checked=False,
            ) from None
        return _token_of(body)

    return Trust(
        issuer=lambda: issuer,
        key=key,
        status_list=status_list,
        scope=f"offline:{issuer}:{jwks_file or 'did'}",
    )


def _safe_url(did: str) -> str:
    try:
        return did_web_url(did)
    except FetchError:
        return did
