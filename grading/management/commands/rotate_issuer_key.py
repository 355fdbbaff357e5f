"""Make a new issuer key that signs from now on; earlier keys stay published."""

from django.core.management.base import BaseCommand, CommandError

from grading.credentials import keys
from grading.credentials.jose import CredentialError


class Command(BaseCommand):
    help = "Generate a new issuer signing key (older keys keep verifying)."

    def handle(self, *args, **options) -> None:
        previous = keys.signing_key().kid
        try:
            new = keys.key_rotate()
        except CredentialError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Signing key: {new.kid} (was {previous})")
        self.stdout.write(f"Keys published: {len(keys.verification_keys())}")
