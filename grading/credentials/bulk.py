"""Bulk verification: a CSV of certificate ids in, one CSV row per id out.

Each id gets the same cryptographic verdict as ``/verify/<id>``. For thousands of
rows the work is shared: certificates are read in batches (one query per
``BATCH`` ids), the issuer's keys are the process's cached key set, each status
list is fetched and its signature checked once per request (not once per row),
and an id repeated in the file is verified once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.utils.translation import gettext as _

from grading.credentials import keys
from grading.credentials.models import Certificate
from grading.credentials.verify import (
    Status,
    StatusListUnavailable,
    Trust,
    certificate_uuid,
    credential_verify,
    online_status_list,
)

BATCH = 500
HEADER = ("id", "verified", "status", "errors")
_HEADER_CELLS = {"id", "certificate_id", "certificate id", "credential_id"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BulkInputError(Exception):
    """The CSV cannot be used; ``status`` is the HTTP answer (400 or 413)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def ids_read(data: bytes, *, max_rows: int) -> list[str]:
    """The first cell of each non-blank row (a header row ``id`` is skipped)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BulkInputError(_("The CSV is not UTF-8 text.")) from None
    ids: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text)):
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if not ids and cells[0].lower() in _HEADER_CELLS:
                continue
            ids.append(cells[0])
            if len(ids) > max_rows:
                raise BulkInputError(
                    _("At most %(max)s rows can be verified in one request.")
                    % {"max": max_rows},
                    status=413,
                )
    except csv.Error:
        raise BulkInputError(_("The CSV cannot be read.")) from None
    if not ids:
        raise BulkInputError(_("The CSV holds no certificate ids."))
    return ids


def _request_trust() -> Trust:
    """The online trust, with each status list fetched once for the request."""
    fetched: dict[str, str | StatusListUnavailable] = {}

    def status_list(url: str) -> str:
        if url not in fetched:
            try:
                fetched[url] = online_status_list(url)
            except StatusListUnavailable as error:
                fetched[url] = error
        found = fetched[url]
        if isinstance(found, StatusListUnavailable):
            raise found
        return found

    return Trust(
        issuer=keys.issuer_did,
        key=keys.key_resolve,
        status_list=status_list,
        scope="online",
    )


def _safe(cell: str) -> str:
    """An echoed id cannot become a spreadsheet formula."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


def verdicts(ids: Iterable[str]) -> Iterator[tuple[str, bool, str, list[str]]]:
    """(id, verified, status, errors) for each id, in order, batch by batch."""
    trust = _request_trust()
    seen: dict[str, tuple[bool, str, list[str]]] = {}
    batch: list[str] = []

    def flush() -> Iterator[tuple[str, bool, str, list[str]]]:
        keys_ = {i: certificate_uuid(i) for i in batch}
        wanted = {k for k in keys_.values() if k is not None and str(k) not in seen}
        tokens = dict(
            Certificate.objects.filter(pk__in=wanted).values_list("pk", "jwt")
        )
        for ident in batch:
            key = keys_[ident]
            if key is None:
                yield (
                    ident,
                    False,
                    Status.INVALID,
                    [_("This is not a certificate identifier.")],
                )
                continue
            if str(key) not in seen:
                token = tokens.get(key)
                if token is None:
                    answer = (
                        False,
                        Status.UNKNOWN,
                        [_("No credential has this identifier.")],
                    )
                else:
                    result = credential_verify(token, trust=trust)
                    answer = (result.verified, result.status, result.errors)
                seen[str(key)] = answer
            yield ident, *seen[str(key)]

    for ident in ids:
        batch.append(ident)
        if len(batch) >= BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def csv_chunks(ids: list[str], *, rows_per_chunk: int = BATCH) -> Iterator[str]:
    """The answer as CSV text, a header then ``rows_per_chunk`` rows a chunk."""
    buffer = io.StringIO()
    # RFC 4180's CRLF: the writer then quotes a field holding a lone CR too (with
    # "\n" it would not, and an echoed id "a\rb" would read as two rows).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for count, (ident, verified, status, errors) in enumerate(verdicts(ids), 1):
        writer.writerow(
            [_safe(ident), "true" if verified else "false", status, "; ".join(errors)]
        )
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()
