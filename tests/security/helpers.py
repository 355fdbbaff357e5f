"""The access matrix's machinery: the principals and the objects they act on, every
route of the URL configuration, and what a response means for access.

The world is built once per test module inside a transaction that is rolled back
when the module ends (``world_built``); each test runs in a savepoint of it, as
pytest-django's ``db`` does, and each request of a test in a savepoint of its own,
so a permitted write (a revocation, a regrade) never changes what the next
principal meets.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import (
    URLPattern,
    URLResolver,
    clear_url_caches,
    get_resolver,
    reverse,
)
from django.urls.resolvers import LocalePrefixPattern
from django.utils import timezone, translation
from wagtail.models import Locale, PageViewRestriction

from tests.factories import UserFactory

PRINCIPALS = (
    "anonymous",
    "trainee",  # trainee A: owns the submission and the certificate
    "other_trainee",  # trainee B, acting on A's objects
    "instructor",  # teaches A's programme; authors in the Wagtail admin (Editors)
    "other_instructor",  # teaches another programme only: no Wagtail group
    "employer",
    "admin",  # superuser
)

# --- Outcomes -------------------------------------------------------------------------
ALLOWED = "allowed"  # not refused: 2xx, 3xx elsewhere than a login, 400, 409...
SIGN_IN = "sign-in"  # 302 to a login page, or 401 from the API
FORBIDDEN = "403"
NOT_FOUND = "404"
ADMIN_HOME = "to-admin-home"  # Wagtail's "no permission": 302 to /admin/ with a message
ERROR = "error"  # 5xx, or 405 (the case names a method the view does not take)


def _login_paths() -> tuple[str, ...]:
    paths = []
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            paths.append(reverse("account_login"))
    return (*paths, reverse("wagtailadmin_login"), reverse("admin:login"))


def outcome_of(status: int, location: str = "", *, external: bool = False) -> str:
    """What a response means for access. ``external``: the view depends on a
    service absent here (the hub), so 502/503 is a permitted principal's answer."""
    if status in (301, 302, 303, 307, 308):
        path = urlsplit(location).path
        if path.startswith(_login_paths()):
            return SIGN_IN
        if path == reverse("wagtailadmin_home"):
            return ADMIN_HOME
        return ALLOWED
    if status == 401:
        return SIGN_IN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return NOT_FOUND
    if status == 405 or (status >= 500 and not (external and status in (502, 503))):
        return ERROR
    return ALLOWED


# --- Routes ---------------------------------------------------------------------------
LANG = "<lang>/"  # how the language prefix of i18n_patterns appears in route keys


@dataclass(frozen=True)
class Route:
    key: str  # the full pattern, e.g. "<lang>/grading/submissions/<int:pk>/"
    name: str  # "namespace:name", or "" for an unnamed route
    view: str  # dotted path of the view's code

    @property
    def ours(self) -> bool:
        """Whether the view is the project's own code (not a library's)."""
        return self.view.split(".")[0] in ("lms", "courses", "labs", "grading")


def _view_path(callback) -> str:
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    view = view or callback
    return f"{view.__module__}.{getattr(view, '__qualname__', view.__class__.__name__)}"


def routes() -> list[Route]:
    """Every URL pattern the site answers, walked through every include. Keys are
    joined as Django joins ``ResolverMatch.route`` (a regex part loses its "^")."""

    def walk(resolver: URLResolver, prefix: str, namespaces: tuple[str, ...]):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                part = (
                    LANG
                    if isinstance(entry.pattern, LocalePrefixPattern)
                    else str(entry.pattern).removeprefix("^")
                )
                spaces = (
                    (*namespaces, entry.namespace) if entry.namespace else namespaces
                )
                yield from walk(entry, prefix + part, spaces)
            elif isinstance(entry, URLPattern):
                name = ":".join((*namespaces, entry.name)) if entry.name else ""
                key = prefix + str(entry.pattern).removeprefix("^")
                yield Route(key, name, _view_path(entry.callback))

    return list(walk(get_resolver(), "", ()))


def route_key_of(path: str) -> str | None:
    """The route key a concrete path resolves to (the language prefix as LANG), or
    None when no route answers it."""
    from django.urls import Resolver404, resolve

    path = urlsplit(path).path
    try:
        # The language prefix matches only while its language is active.
        with translation.override(translation.get_language_from_path(path)):
            key = resolve(path).route.removeprefix("^")
    except Resolver404:
        return None
    for language, _name in settings.LANGUAGES:
        if key.startswith(f"{language}/"):
            return LANG + key.removeprefix(f"{language}/")
    return key


# --- The world ------------------------------------------------------------------------
@dataclass
class World:
    """The principals, their sessions, and the objects of trainee A they act on."""

    users: dict[str, object]
    sessions: dict[str, str]
    values: dict[str, object]  # placeholders of the table's URLs

    def client(self, principal: str) -> Client:
        """A fresh client carrying the principal's session (anonymous: none)."""
        client = Client()
        if principal in self.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[principal]
        return client

    def url(self, template: str) -> str:
        return template.format(**self.values)


def _session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _editors_group() -> list[Group]:
    """Wagtail's Editors and Moderators with the authoring permissions the demo
    gives them (``seed_demo``): the instructor's Wagtail access."""
    groups = list(Group.objects.filter(name__in=["Moderators", "Editors"]))
    authoring = Permission.objects.filter(
        content_type__app_label__in=["labs", "courses", "grading"],
        codename__in=[
            f"{action}_{model}"
            for action in ("add", "change", "view")
            for model in ("lab", "skill", "certificaterule")
        ],
    )
    for group in groups:
        group.permissions.add(*authoring)
    return groups


def _media_file(relative: str, data: bytes, files: list[Path]) -> str:
    """A file under MEDIA_ROOT (what the development /media/ route serves)."""
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    files.append(path)
    return relative


def world_build(*, key_dir: Path, files: list[Path]) -> World:
    """Users of every kind, A's enrolment, lab submission and certificate, pages of
    every type (and a draft), a document, an OAuth2 token for the hub."""
    from oauth2_provider.models import AccessToken, Application
    from wagtail.documents.models import Document
    from wagtail.models import Collection, CollectionViewRestriction

    from courses import services as course_services
    from courses.models import CataloguePage, CoursePage, LessonPage, ProgrammePage
    from grading.credentials import keys
    from grading.credentials import services as credential_services
    from grading.models import CellGrade, Submission
    from labs.models import Lab
    from tests.courses.helpers import quiz_lessons

    tag = uuid.uuid4().hex[:8]
    users = {
        "trainee": UserFactory(role="trainee"),
        "other_trainee": UserFactory(role="trainee"),
        "instructor": UserFactory(role="instructor"),
        "other_instructor": UserFactory(role="instructor"),
        "employer": UserFactory(role="employer"),
        "admin": UserFactory(role="trainee", is_superuser=True, is_staff=True),
    }
    users["instructor"].groups.add(*_editors_group())
    a = users["trainee"]

    english = Locale.get_default()
    catalogue = CataloguePage.objects.live().get(locale=english)
    programme = ProgrammePage.objects.get(slug="cross-border-ecommerce", locale=english)
    course = CoursePage.objects.live().child_of(programme).first()
    lessons = list(LessonPage.objects.live().descendant_of(programme).order_by("path"))
    quiz_lesson, quiz = quiz_lessons(programme=programme)[0]
    # Besides the first lesson (served to all): one behind a password, one a draft.
    restricted, *_others, draft = [x for x in lessons[1:] if x.pk != quiz_lesson.pk]
    draft.unpublish()
    restriction = PageViewRestriction.objects.create(
        page=restricted, restriction_type=PageViewRestriction.PASSWORD, password="pw"
    )
    course_services.enrolment_create(user=a, programme=programme)

    archive = _media_file(
        f"lab-sources/matrix-{tag}.zip", b"PK\x05\x06" + 18 * b"\0", files
    )
    lab = Lab.objects.create(
        slug=f"matrix-lab-{tag}",
        title="Matrix lab",
        notebook="matrix.ipynb",
        points=5,
        source_archive=archive,
        status=Lab.Status.PUBLISHED,
    )
    # The lab is one of A's programme's: a lesson opens it, and the instructor
    # teaches the programme; the other instructor teaches another programme only.
    restricted.body.append(("lab", {"lab": lab.slug, "title": ""}))
    restricted.save_revision().publish()
    course_services.programme_instructors_assign(
        programme=programme, instructors=[users["instructor"]]
    )
    other_programme = (
        ProgrammePage.objects.filter(locale=english).exclude(pk=programme.pk).first()
    )
    course_services.programme_instructors_assign(
        programme=other_programme, instructors=[users["other_instructor"]]
    )
    submission = Submission(
        user=a,
        lab=lab,
        attempt=1,
        sha256="0" * 64,
        size=2,
        source=Submission.Source.UPLOAD,
        lab_version=1,
        status=Submission.Status.GRADED,
        score=4,
        max_score=5,
        passed=True,
    )
    submission.notebook.save(
        f"{lab.slug}-u{a.pk}-a1.ipynb", ContentFile(b"{}"), save=False
    )
    submission.save()
    files.append(Path(submission.notebook.path))
    cell = CellGrade.objects.create(
        submission=submission,
        grade_id="recommendation",
        kind=CellGrade.Kind.MANUAL,
        max_points=2,
    )

    with override_settings(CREDENTIALS_KEY_DIR=key_dir):
        keys.keys_forget()
        certificate = credential_services.certificate_issue(
            user=a,
            programme=programme,
            results=[
                {"key": "quizzes", "name": "Quizzes", "value": 90, "valueMax": 100}
            ],
            evidence=[],
            valid_for=timedelta(days=365),
        )

    collection = Collection.get_first_root_node().add_child(name=f"Matrix {tag}")
    document = Document(title="Price list", collection=Collection.get_first_root_node())
    document.file.save(
        f"matrix-{tag}.csv", ContentFile(b"sku,price\n1,2\n"), save=False
    )
    document.save()
    files.append(Path(document.file.path))
    document_restriction = CollectionViewRestriction.objects.create(
        collection=collection,
        restriction_type=CollectionViewRestriction.PASSWORD,
        password="pw",
    )
    image = _media_file(f"original_images/matrix-{tag}.png", b"\x89PNG\r\n", files)

    hub_client = Application.objects.create(
        name="JupyterHub labs",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8001/hub/oauth_callback",
        skip_authorization=True,
    )
    hub_token = f"matrix-{uuid.uuid4().hex}"
    AccessToken.objects.create(
        user=a,
        application=hub_client,
        token=hub_token,
        scope="identity",
        expires=timezone.now() + timedelta(hours=1),
    )

    values = {
        "catalogue": catalogue.url,
        "programme": programme.url,
        "programme_id": programme.pk,
        "programme_slug": programme.slug,
        "programme_title": programme.title,
        "course": course.url,
        "course_id": course.pk,
        "lesson": lessons[0].url,
        "lesson_id": lessons[0].pk,
        "draft": f"{draft.get_parent().url}{draft.slug}/",
        "restricted_id": restricted.pk,
        "page_restriction": restriction.pk,
        "quiz_lesson_id": quiz_lesson.pk,
        "quiz_id": quiz.id,
        "lab": lab.slug,
        "lab_id": lab.pk,
        "submission": submission.pk,
        "cell": cell.pk,
        "submission_url": f"/grading/submissions/{submission.pk}/",
        "submission_file": submission.notebook.name,
        "lab_archive": archive,
        "image": image,
        "certificate": certificate.pk,
        "status_list": certificate.status_list_id,
        "document_id": document.pk,
        "document_file": Path(document.file.name).name,
        "document_restriction": document_restriction.pk,
        "hub_client_id": hub_client.client_id,
        "hub_token": hub_token,
        "trainee_id": a.pk,
        "trainee_username": a.username,
    }
    sessions = {principal: _session_of(user) for principal, user in users.items()}
    return World(users=users, sessions=sessions, values=values)


@contextmanager
def world_built(django_db_blocker, tmp_path: Path) -> Iterator[World]:
    """The world, in a transaction rolled back (and its files removed) at the end."""
    from grading.credentials import keys

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        files: list[Path] = []
        try:
            world = world_build(key_dir=tmp_path / "issuer", files=files)
            with override_settings(CREDENTIALS_KEY_DIR=tmp_path / "issuer"):
                yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            keys.keys_forget()
            for path in files:
                path.unlink(missing_ok=True)


@contextmanager
def development_urls() -> Iterator[None]:
    """The URL configuration as development (``make demo``, DEBUG on) builds it: the
    production one plus the /media/ route. Restored afterwards."""
    import lms.urls

    try:
        with override_settings(DEBUG=True):
            importlib.reload(lms.urls)
        clear_url_caches()
        yield
    finally:
        importlib.reload(lms.urls)
        clear_url_caches()


@contextmanager
def rolled_back() -> Iterator[None]:
    """One request's writes, undone after it (a savepoint)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
