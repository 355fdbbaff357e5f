"""Account writes and reads: API tokens, profiles, demo users."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lms.accounts.models import BearerToken, Role, User

DEMO_USERS: dict[str, tuple[Role, str]] = {
    "trainee": (Role.TRAINEE, "Demo Trainee"),
    "instructor": (Role.INSTRUCTOR, "Demo Instructor"),
    "employer": (Role.EMPLOYER, "Demo Employer"),
    "graduate": (Role.TRAINEE, "Demo Graduate"),
}


def api_token_create(*, user: User) -> str:
    """Issue a new bearer token and return it; only its digest is kept."""
    raw = BearerToken.new_raw()
    BearerToken.objects.create(
        user=user,
        digest=BearerToken.digest_of(raw),
        expires_at=timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS),
    )
    return raw


def api_token_user(*, raw: str) -> User | None:
    """The active user a bearer token belongs to, or None if unknown or expired."""
    now = timezone.now()
    token = (
        BearerToken.objects.select_related("user")
        .filter(digest=BearerToken.digest_of(raw), expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        BearerToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def user_profile_update(
    *, user: User, display_name: str, preferred_language: str
) -> User:
    user.display_name = display_name.strip()
    user.preferred_language = preferred_language
    user.save(update_fields=["display_name", "preferred_language"])
    return user


@transaction.atomic
def demo_users_ensure(*, password: str | None = None) -> tuple[dict[str, User], str]:
    """Create the demo users of DESIGN.md (idempotent) with verified emails.

    Returns the users and the password they were given: ``password``, else
    ``$DEMO_PASSWORD``, else a fresh random one (set on every run, so it is always
    the one just printed).
    """
    from allauth.account.models import EmailAddress

    password = password or settings.DEMO_PASSWORD or secrets.token_urlsafe(9)
    users: dict[str, User] = {}
    for username, (role, display_name) in DEMO_USERS.items():
        email = f"{username}@demo.silkroute.local"
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={"role": role, "display_name": display_name, "email": email},
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        users[username] = user
    return users, password
