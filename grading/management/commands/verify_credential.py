"""Verify a credential file with no database: the issuer's key from its DID
document over HTTP(S) or from a pinned JWKS, the status list from its URL or a
pinned file. Every check is printed; the exit status is 0 only when verified."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from grading.credentials import keys
from grading.credentials.offline import offline_trust
from grading.credentials.verify import MAX_INPUT_BYTES, credential_verify

MARKS = {True: "PASS", False: "FAIL", None: "----"}


class Command(BaseCommand):
    help = (
        "Verify a credential file (JSON or compact JWT) without the database; "
        "exit 0 only when it is verified."
    )
    requires_system_checks: list = []  # the checks may want the database

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="the credential file")
        parser.add_argument(
            "--jwks",
            type=Path,
            help="a pinned JWKS file of the issuer (else its did:web document)",
        )
        parser.add_argument(
            "--status-list",
            type=Path,
            help="a pinned status list file (else the credential's status list URL)",
        )
        parser.add_argument(
            "--issuer",
            help="the issuer DID to trust (default: this site's, from the settings)",
        )
        parser.add_argument("--timeout", type=float, default=10.0)
        parser.add_argument(
            "--json", action="store_true", help="print the API's answer shape"
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        try:
            with path.open("rb") as file:
                data = file.read(MAX_INPUT_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}") from None
        for option in ("jwks", "status_list"):
            pinned = options[option]
            if pinned is not None and not pinned.is_file():
                raise CommandError(f"No such file: {pinned}")
        issuer = options["issuer"] or keys.issuer_did()
        trust = offline_trust(
            issuer=issuer,
            jwks_file=options["jwks"],
            status_list_file=options["status_list"],
            timeout=options["timeout"],
        )
        result = credential_verify(data, trust=trust)
        if options["json"]:
            self.stdout.write(
                json.dumps(result.as_dict(), ensure_ascii=False, indent=2)
            )
        else:
            self.stdout.write(f"Issuer trusted: {issuer}")
            for check in result.checks:
                mark = MARKS[check.passed]
                self.stdout.write(f"[{mark}] {check.name:<9} {check.reason}")
            verdict = "verified" if result.verified else "NOT verified"
            self.stdout.write(f"Status: {result.status} ({verdict})")
        if not result.verified:
            raise CommandError(
                f"{path}: {result.status}: {'; '.join(result.errors)}", returncode=1
            )
