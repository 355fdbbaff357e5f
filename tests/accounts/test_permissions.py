"""Roles: the view decorator, the dashboard's login wall and the Wagtail admin."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from lms.accounts.models import Role
from lms.accounts.permissions import has_role, role_required
from tests.factories import UserFactory


@role_required(Role.INSTRUCTOR, Role.EMPLOYER)
def _staff_only_view(request):
    return HttpResponse("welcome")


def _call(user):
    request = RequestFactory().get("/en/somewhere/")
    request.user = user
    return _staff_only_view(request)


def test_has_role_matches_the_users_role(trainee, instructor, employer):
    """has_role is true only for one of the listed roles."""
    assert has_role(trainee, Role.TRAINEE)
    assert not has_role(trainee, Role.INSTRUCTOR, Role.EMPLOYER)
    assert has_role(instructor, Role.INSTRUCTOR)
    assert not has_role(instructor, Role.TRAINEE)
    assert has_role(employer, Role.TRAINEE, Role.EMPLOYER)


def test_has_role_is_false_for_anonymous_users():
    """An anonymous user holds no role."""
    assert not has_role(AnonymousUser(), *Role)


def test_superuser_passes_every_role(db):
    """A superuser counts as any role, whatever its role field says."""
    admin = UserFactory(role="trainee", is_superuser=True, is_staff=True)
    for role in Role:
        assert has_role(admin, role)
    assert _call(admin).status_code == 200


def test_role_required_lets_the_right_roles_in(instructor, employer):
    """Users with a listed role reach the view."""
    assert _call(instructor).content == b"welcome"
    assert _call(employer).content == b"welcome"


def test_role_required_refuses_other_roles(trainee):
    """A signed-in user with another role gets PermissionDenied (403)."""
    with pytest.raises(PermissionDenied):
        _call(trainee)


def test_role_required_sends_anonymous_users_to_login():
    """Anonymous users are redirected to the login page, not refused."""
    response = _call(AnonymousUser())
    assert response.status_code == 302
    assert response["Location"].startswith("/en/accounts/login/?next=")


def test_dashboard_requires_login(client, db):
    """Anonymous visitors to the dashboard go to the login page."""
    response = client.get("/en/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/en/accounts/login/?next=/en/dashboard/"


def _admin_refused(response) -> bool:
    if response.status_code == 403:
        return True
    return response.status_code == 302 and response["Location"].startswith(
        "/admin/login/"
    )


@pytest.mark.parametrize("role", ["trainee", "employer", "instructor"])
def test_wagtail_admin_is_closed_to_users_outside_the_editor_groups(client, db, role):
    """Trainees, employers and instructors not in an editor group are kept out."""
    client.force_login(UserFactory(role=role))
    response = client.get("/admin/")
    assert _admin_refused(response), (response.status_code, response.get("Location"))
    response = client.get("/admin/pages/")
    assert _admin_refused(response), (response.status_code, response.get("Location"))


@pytest.mark.parametrize("group", ["Moderators", "Editors"])
def test_instructor_in_an_editor_group_reaches_the_wagtail_admin(
    client, instructor, group
):
    """Wagtail's Moderators and Editors groups open the admin to instructors."""
    instructor.groups.add(Group.objects.get(name=group))
    client.force_login(instructor)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "wagtailadmin/home.html" in [t.name for t in response.templates]
