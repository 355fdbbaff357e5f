"""Role checks for views. Anonymous users go to login; the wrong role gets 403."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from lms.accounts.models import Role, User


def has_role(user: User, *roles: Role) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_superuser or user.role in roles


def role_required(*roles: Role) -> Callable:
    """Decorate a view so only signed-in users with one of ``roles`` reach it."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
