"""The access-control matrix: every route of the URL configuration, requested by
every kind of visitor, against an explicit table of who may and who is refused.

A route that the table does not cover fails ``test_every_route_is_in_the_table``,
so no new URL goes unchecked. Library areas the project does not own (Wagtail's
admin, Django's admin, allauth's account pages) are covered by prefix rules
with a sample of concrete URLs; a view of our own under such a prefix still needs
its own row.

Principals (``tests.security.helpers.PRINCIPALS``): anonymous; trainee A, who owns
the submission and the certificate; trainee B acting on A's objects; the
instructor who teaches A's programme (a Wagtail editor, like the demo's
instructor); an instructor who teaches another programme only (the role only, no
Wagtail group); an employer; a superuser. Instructors see only the programmes they
are assigned to (``courses.teaching``): the other instructor reaches the
instructor pages (lists filtered to their own programmes) but meets a 404 for A's
programme, lab, submission and certificate, as trainee B does.

Refusals are asserted exactly (sign-in, 403, 404, Wagtail's redirect to its home);
a permitted principal must simply not be refused and not meet a server error, since
the lab endpoints answer 503 or an error message when no hub runs. The page caches
are off in the suite; ``test_cached_pages_are_each_readers_own`` turns them on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.factories import PASSWORD
from tests.security.helpers import (
    ADMIN_HOME,
    ALLOWED,
    FORBIDDEN,
    LANG,
    NOT_FOUND,
    PRINCIPALS,
    SIGN_IN,
    development_urls,
    outcome_of,
    rolled_back,
    route_key_of,
    routes,
    world_built,
)


def expect(default: str, **cells: str) -> dict[str, str]:
    unknown = set(cells) - set(PRINCIPALS)
    assert not unknown, unknown
    return {principal: cells.get(principal, default) for principal in PRINCIPALS}


EVERYONE = expect(ALLOWED)
NOBODY = expect(NOT_FOUND)
SIGNED_IN = expect(ALLOWED, anonymous=SIGN_IN)
# Trainee actions: trainees (B on their own behalf) and superusers.
TRAINEES = expect(
    FORBIDDEN, anonymous=SIGN_IN, trainee=ALLOWED, other_trainee=ALLOWED, admin=ALLOWED
)
# Instructor pages that list what the instructor teaches: the instructor role and
# superusers (each instructor's list holds their own programmes only).
INSTRUCTORS = expect(
    FORBIDDEN,
    anonymous=SIGN_IN,
    instructor=ALLOWED,
    other_instructor=ALLOWED,
    admin=ALLOWED,
)
# Instructor pages of A's programme, its lab, A's submission or certificate: the
# instructor who teaches it and superusers; another programme's instructor gets
# 404 (its existence is not confirmed), other roles 403.
TEACHERS_OF_A = expect(
    FORBIDDEN,
    anonymous=SIGN_IN,
    instructor=ALLOWED,
    other_instructor=NOT_FOUND,
    admin=ALLOWED,
)
STAFF = expect(FORBIDDEN, anonymous=SIGN_IN, admin=ALLOWED)
# One of A's own objects: A, the instructor who teaches A's programme and
# superusers; anyone else signed in (another programme's instructor too) gets 404
# (its existence is not confirmed).
A_OWNS = expect(
    NOT_FOUND,
    anonymous=SIGN_IN,
    trainee=ALLOWED,
    instructor=ALLOWED,
    admin=ALLOWED,
)
# Wagtail's admin: those with its access permission (the editor instructor and the
# superuser); everyone else is sent to its login page.
WAGTAIL_EDITORS = expect(SIGN_IN, instructor=ALLOWED, admin=ALLOWED)
DJANGO_ADMIN = expect(SIGN_IN, admin=ALLOWED)


@dataclass(frozen=True)
class Case:
    """One concrete request and the outcome per principal. ``url`` has the world's
    placeholders; ``private`` names one of A's values that must not appear in the
    body of an allowed answer to a principal outside ``seen_by``."""

    method: str
    url: str
    expect: dict[str, str]
    data: object = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    external: bool = False  # needs the hub, absent here: 502/503 is not a refusal
    routed: bool = True  # False: a URL beside the route that no route may answer
    follow: bool = False  # judge the end of the redirects (the language prefix's)
    private: str = ""
    seen_by: tuple[str, ...] = ()


def get(url: str, expected: dict[str, str], **kwargs) -> Case:
    return Case("GET", url, expected, **kwargs)


def post(url: str, expected: dict[str, str], **kwargs) -> Case:
    return Case("POST", url, expected, **kwargs)


def api_post(url: str, expected: dict[str, str], body: object = None, **kwargs) -> Case:
    return Case(
        "POST",
        url,
        expected,
        data=body if body is not None else {},
        content_type="application/json",
        **kwargs,
    )


L = "/en"  # the language prefix the table's URLs use
SUBMISSION = "/en/grading/submissions/{submission}"
GRADEBOOK = "/en/grading/gradebook"
CERTIFICATE = "/en/grading/certificates/{certificate}"
PAGE_PASSWORD = "{page_restriction}/{restricted_id}"

# --- The table: route pattern -> concrete requests ------------------------------------
ROUTES: dict[str, list[Case]] = {
    # Operations and the JSON API
    "favicon.ico": [get("/favicon.ico", EVERYONE)],
    "healthz": [get("/healthz", EVERYONE)],
    "readyz": [get("/readyz", EVERYONE)],
    "api/v1/": [get("/api/v1/", NOBODY)],
    "api/v1/openapi.json": [get("/api/v1/openapi.json", EVERYONE)],
    "api/v1/docs": [get("/api/v1/docs", EVERYONE)],
    "api/v1/auth/token": [
        api_post(
            "/api/v1/auth/token",
            EVERYONE,
            {"username": "{trainee_username}", "password": PASSWORD},
        )
    ],
    "api/v1/programmes": [get("/api/v1/programmes", EVERYONE)],
    "api/v1/programmes/<slug>/enrolment": [
        api_post("/api/v1/programmes/{programme_slug}/enrolment", TRAINEES),
        Case("DELETE", "/api/v1/programmes/{programme_slug}/enrolment", SIGNED_IN),
    ],
    "api/v1/labs": [get("/api/v1/labs", SIGNED_IN)],
    "api/v1/labs/<slug>/launch": [
        api_post("/api/v1/labs/{lab}/launch", TRAINEES, external=True)
    ],
    "api/v1/labs/<slug>/submissions": [
        Case("POST", "/api/v1/labs/{lab}/submissions", TRAINEES, external=True)
    ],
    "api/v1/submissions/<submission_id>": [
        get("/api/v1/submissions/{submission}", A_OWNS)
    ],
    "api/v1/certificates": [
        get(
            "/api/v1/certificates",
            SIGNED_IN,
            private="certificate",
            seen_by=("trainee",),
        )
    ],
    "api/v1/verify": [api_post("/api/v1/verify", EVERYONE, {"credential": "x"})],
    "api/v1/verify/bulk": [
        Case(
            "POST",
            "/api/v1/verify/bulk",
            expect(FORBIDDEN, anonymous=SIGN_IN, employer=ALLOWED, admin=ALLOWED),
            data="certificate_id\n{certificate}\n",
            content_type="text/csv",
        )
    ],
    # Public credential endpoints
    ".well-known/jwks.json": [get("/.well-known/jwks.json", EVERYONE)],
    ".well-known/did.json": [get("/.well-known/did.json", EVERYONE)],
    "credentials/status/<int:list_id>": [
        get("/credentials/status/{status_list}", EVERYONE)
    ],
    "credentials/<uuid:certificate_id>": [get("/credentials/{certificate}", EVERYONE)],
    "verify": [get("/verify", EVERYONE), post("/verify", EVERYONE, data={})],
    "verify/": [get("/verify/", EVERYONE)],
    "verify/<str:certificate_id>": [get("/verify/{certificate}", EVERYONE)],
    # Wagtail documents, the language switch, the hub's sign-on identity
    r"documents/(\d+)/(.*)$": [
        get("/documents/{document_id}/{document_file}", EVERYONE)
    ],
    "documents/authenticate_with_password/<int:restriction_id>/": [
        get("/documents/authenticate_with_password/{document_restriction}/", EVERYONE),
        post(
            "/documents/authenticate_with_password/{document_restriction}/",
            EVERYONE,
            data={"password": "wrong", "return_url": "/"},
        ),
    ],
    "i18n/setlang/": [post("/i18n/setlang/", EVERYONE, data={"language": "en"})],
    "labs/hub-identity/": [
        # A session is not enough: only an OAuth2 token with the identity scope.
        get("/labs/hub-identity/", expect(FORBIDDEN)),
        get(
            "/labs/hub-identity/",
            EVERYONE,
            headers={"Authorization": "Bearer {hub_token}"},
        ),
    ],
    # The OAuth2 provider of the hub's sign-in: nothing else of the toolkit is
    # published (no client registration, token lists, OpenID Connect).
    "o/authorize/": [
        get(
            "/o/authorize/?response_type=code&client_id={hub_client_id}"
            "&redirect_uri=http://127.0.0.1:8001/hub/oauth_callback&scope=identity"
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            "&code_challenge_method=S256&state=matrix",
            SIGNED_IN,
        ),
        get("/o/applications/register/", NOBODY, routed=False, follow=True),
        get("/o/authorized_tokens/", NOBODY, routed=False, follow=True),
    ],
    # No token without the client's secret, whoever asks.
    "o/token/": [
        post(
            "/o/token/",
            expect(SIGN_IN),
            data={
                "grant_type": "authorization_code",
                "code": "matrix",
                "client_id": "{hub_client_id}",
                "client_secret": "not-the-secret",
                "redirect_uri": "http://127.0.0.1:8001/hub/oauth_callback",
                "code_verifier": "matrix-" + "v" * 50,
            },
        )
    ],
    "o/revoke_token/": [
        post(
            "/o/revoke_token/",
            expect(SIGN_IN),
            data={
                "token": "{hub_token}",
                "client_id": "{hub_client_id}",
                "client_secret": "not-the-secret",
            },
        )
    ],
    # In development (DEBUG) only: uploaded files. Lab sources hold solutions and
    # hidden tests, submissions are private: only Wagtail's images are served.
    "media/(?P<path>(?:original_images|images)/[^/]+)$": [
        get("/media/{image}", EVERYONE),
        get("/media/{lab_archive}", NOBODY, routed=False),
        get("/media/{submission_file}", NOBODY, routed=False),
    ],
    # Accounts (allauth's own pages: the prefix rule below)
    f"{LANG}accounts/profile/": [
        get(f"{L}/accounts/profile/", SIGNED_IN),
        post(f"{L}/accounts/profile/", SIGNED_IN, data={"display_name": ""}),
    ],
    f"{LANG}dashboard/": [
        get(f"{L}/dashboard/", SIGNED_IN, private="certificate", seen_by=("trainee",))
    ],
    # Learning
    f"{LANG}learn/programmes/<int:page_id>/enrol/": [
        post(f"{L}/learn/programmes/{{programme_id}}/enrol/", TRAINEES)
    ],
    f"{LANG}learn/programmes/<int:page_id>/leave/": [
        post(f"{L}/learn/programmes/{{programme_id}}/leave/", TRAINEES)
    ],
    f"{LANG}learn/lessons/<int:page_id>/complete/": [
        post(f"{L}/learn/lessons/{{lesson_id}}/complete/", TRAINEES)
    ],
    f"{LANG}learn/lessons/<int:page_id>/quizzes/<str:quiz_id>/": [
        post(f"{L}/learn/lessons/{{quiz_lesson_id}}/quizzes/{{quiz_id}}/", TRAINEES)
    ],
    f"{LANG}learn/search/": [get(f"{L}/learn/search/?q=customs", EVERYONE)],
    f"{LANG}learn/cohorts/": [
        get(
            f"{L}/learn/cohorts/",
            INSTRUCTORS,
            private="programme_title",
            seen_by=("instructor", "admin"),
        )
    ],
    f"{LANG}learn/cohorts/<int:page_id>/": [
        get(f"{L}/learn/cohorts/{{programme_id}}/", TEACHERS_OF_A)
    ],
    f"{LANG}learn/cohorts/<int:page_id>/csv/": [
        get(f"{L}/learn/cohorts/{{programme_id}}/csv/", TEACHERS_OF_A)
    ],
    f"{LANG}learn/cohorts/courses/<int:page_id>/": [
        get(f"{L}/learn/cohorts/courses/{{course_id}}/", TEACHERS_OF_A)
    ],
    # Labs (no hub here: a permitted launch ends in an error message, not a refusal)
    f"{LANG}labs/<slug:slug>/launch/": [
        post(f"{L}/labs/{{lab}}/launch/", TRAINEES, external=True)
    ],
    f"{LANG}labs/<slug:slug>/progress/": [get(f"{L}/labs/{{lab}}/progress/", TRAINEES)],
    f"{LANG}labs/<slug:slug>/reset/": [
        post(f"{L}/labs/{{lab}}/reset/", TRAINEES, external=True)
    ],
    f"{LANG}labs/stop/": [post(f"{L}/labs/stop/", TRAINEES, external=True)],
    # The trainee's submissions: B sees the lab's page with B's own attempts only
    f"{LANG}grading/labs/<slug:slug>/submissions/": [
        get(
            f"{L}/grading/labs/{{lab}}/submissions/",
            TRAINEES,
            private="submission_url",
            seen_by=("trainee",),
        ),
        post(f"{L}/grading/labs/{{lab}}/submissions/", TRAINEES),
    ],
    f"{LANG}grading/labs/<slug:slug>/submissions/part/": [
        get(
            f"{L}/grading/labs/{{lab}}/submissions/part/",
            TRAINEES,
            private="submission_url",
            seen_by=("trainee",),
        )
    ],
    f"{LANG}grading/submissions/<int:pk>/": [
        get(f"{SUBMISSION}/", A_OWNS),
        # The other language's prefix reaches the same view, with the same refusals.
        get("/zh-hans/grading/submissions/{submission}/", A_OWNS),
    ],
    f"{LANG}grading/submissions/<int:pk>/part/": [get(f"{SUBMISSION}/part/", A_OWNS)],
    # The instructor's gradebook
    f"{LANG}grading/gradebook/": [
        get(
            f"{GRADEBOOK}/",
            INSTRUCTORS,
            private="lab",
            seen_by=("instructor", "admin"),
        )
    ],
    f"{LANG}grading/gradebook/labs/<slug:slug>/": [
        get(f"{GRADEBOOK}/labs/{{lab}}/", TEACHERS_OF_A)
    ],
    f"{LANG}grading/gradebook/labs/<slug:slug>/csv/": [
        get(f"{GRADEBOOK}/labs/{{lab}}/csv/", TEACHERS_OF_A)
    ],
    f"{LANG}grading/gradebook/labs/<slug:slug>/regrade/": [
        get(f"{GRADEBOOK}/labs/{{lab}}/regrade/", TEACHERS_OF_A),
        post(f"{GRADEBOOK}/labs/{{lab}}/regrade/", TEACHERS_OF_A),
    ],
    f"{LANG}grading/gradebook/submissions/<int:pk>/": [
        get(f"{GRADEBOOK}/submissions/{{submission}}/", TEACHERS_OF_A),
        post(
            f"{GRADEBOOK}/submissions/{{submission}}/",
            TEACHERS_OF_A,
            data={
                "cell-{cell}-grade_id": "recommendation",
                "cell-{cell}-points": "1",
                "cell-{cell}-comment": "matrix",
            },
        ),
    ],
    f"{LANG}grading/gradebook/submissions/<int:pk>/regrade/": [
        post(f"{GRADEBOOK}/submissions/{{submission}}/regrade/", TEACHERS_OF_A)
    ],
    f"{LANG}grading/gradebook/submissions/<int:pk>/notebook/": [
        get(f"{GRADEBOOK}/submissions/{{submission}}/notebook/", TEACHERS_OF_A)
    ],
    # Certificates: the holder's, and the instructor's list with revoke and re-issue
    f"{LANG}grading/certificates/": [
        get(
            f"{L}/grading/certificates/",
            SIGNED_IN,
            private="certificate",
            seen_by=("trainee",),
        )
    ],
    f"{LANG}grading/certificates/<uuid:certificate_id>/": [
        get(f"{CERTIFICATE}/", A_OWNS)
    ],
    f"{LANG}grading/certificates/<uuid:certificate_id>/pdf/<str:language>/": [
        get(f"{CERTIFICATE}/pdf/en/", A_OWNS)
    ],
    f"{LANG}grading/certificates/<uuid:certificate_id>/credential.<str:fmt>": [
        get(f"{CERTIFICATE}/credential.jwt", A_OWNS)
    ],
    f"{LANG}grading/gradebook/certificates/": [
        get(
            f"{GRADEBOOK}/certificates/",
            INSTRUCTORS,
            private="certificate",
            seen_by=("instructor", "admin"),
        )
    ],
    f"{LANG}grading/gradebook/certificates/<uuid:certificate_id>/revoke/": [
        get(f"{GRADEBOOK}/certificates/{{certificate}}/revoke/", TEACHERS_OF_A),
        post(
            f"{GRADEBOOK}/certificates/{{certificate}}/revoke/",
            TEACHERS_OF_A,
            data={"reason": "matrix"},
        ),
    ],
    f"{LANG}grading/gradebook/certificates/<uuid:certificate_id>/reissue/": [
        get(f"{GRADEBOOK}/certificates/{{certificate}}/reissue/", TEACHERS_OF_A),
        post(f"{GRADEBOOK}/certificates/{{certificate}}/reissue/", TEACHERS_OF_A),
    ],
    f"{LANG}ops/queues/": [get(f"{L}/ops/queues/", STAFF)],
    # Wagtail's page serving: one published page of each type, and a draft
    f"{LANG}_util/authenticate_with_password/<int:page_view_restriction_id>/"
    "<int:page_id>/": [
        get(f"{L}/_util/authenticate_with_password/{PAGE_PASSWORD}/", EVERYONE),
        post(
            f"{L}/_util/authenticate_with_password/{PAGE_PASSWORD}/",
            EVERYONE,
            data={"password": "wrong", "return_url": "/"},
        ),
    ],
    f"{LANG}_util/login/": [get(f"{L}/_util/login/", EVERYONE)],
    LANG + r"((?:[\w\-]+/)*)$": [
        get("{catalogue}", EVERYONE),
        get("{programme}", EVERYONE),
        get("{course}", EVERYONE),
        get("{lesson}", EVERYONE),
        get("{draft}", NOBODY),
    ],
}

# Two operations of the JSON API share one pattern: both must be known here.
SHARED_PATTERNS = {
    "api/v1/programmes/<slug>/enrolment": {
        "api-v1:programme_enrol",
        "api-v1:programme_leave",
    }
}

# --- Prefix rules: library areas, a sample of concrete URLs each ----------------------
PREFIXES: dict[str, list[Case]] = {
    "admin/": [
        get("/admin/", WAGTAIL_EDITORS),
        get("/admin/pages/", WAGTAIL_EDITORS),
        get("/admin/pages/{programme_id}/", WAGTAIL_EDITORS),
        get("/admin/pages/{lesson_id}/edit/", WAGTAIL_EDITORS),
        get("/admin/snippets/labs/lab/edit/{lab_id}/", WAGTAIL_EDITORS),
        get("/admin/documents/", WAGTAIL_EDITORS),
        get("/admin/users/", expect(SIGN_IN, instructor=ADMIN_HOME, admin=ALLOWED)),
    ],
    "django-admin/": [
        get("/django-admin/", DJANGO_ADMIN),
        get("/django-admin/accounts/user/{trainee_id}/change/", DJANGO_ADMIN),
        get("/django-admin/oauth2_provider/application/", DJANGO_ADMIN),
    ],
    f"{LANG}accounts/": [
        get(f"{L}/accounts/login/", EVERYONE),
        get(f"{L}/accounts/signup/", EVERYONE),
        get(f"{L}/accounts/password/reset/", EVERYONE),
        get(f"{L}/accounts/password/change/", SIGNED_IN),
        get(f"{L}/accounts/email/", SIGNED_IN),
        post(f"{L}/accounts/logout/", EVERYONE),
    ],
}


# --- Running the cells ----------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _development_urls():
    """The matrix walks and requests development's URL configuration: production's
    and the /media/ route that only DEBUG adds."""
    with development_urls():
        yield


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    with world_built(django_db_blocker, tmp_path_factory.mktemp("matrix")) as built:
        yield built


@pytest.fixture(autouse=True)
def _no_hub(settings):
    """Nothing listens here: the lab endpoints meet an unreachable hub at once
    (another session's hub on 8001 must not answer for this one)."""
    settings.JUPYTERHUB_URL = "http://127.0.0.1:9"
    settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"


@pytest.fixture(autouse=True)
def _pdf_without_weasyprint(monkeypatch):
    """The certificate's PDF layout (WeasyPrint: seconds a page on this machine) is
    tested in tests/grading/credentials/test_pdf.py; the matrix needs only who gets
    it. Its HTML is still built from the certificate and stands in for the PDF."""
    from grading.credentials import pdf, views_holder

    def html_for_pdf(*, certificate, language: str) -> bytes:
        html = pdf.certificate_html(certificate=certificate, language=language)
        return b"%PDF-" + html.encode()

    monkeypatch.setattr(views_holder, "certificate_pdf", html_for_pdf)


def _fill(world, value):
    if isinstance(value, str):
        return world.url(value)
    if isinstance(value, dict):
        return {world.url(key): _fill(world, item) for key, item in value.items()}
    return value


def _request(world, principal: str, case: Case):
    client = world.client(principal)
    kwargs = {"headers": _fill(world, case.headers), "follow": case.follow}
    if case.content_type:
        kwargs["content_type"] = case.content_type
    data = _fill(world, case.data)
    if case.content_type == "application/json":
        data = json.dumps(data)
    if case.method != "GET" or data is not None:
        kwargs["data"] = data
    response = getattr(client, case.method.lower())(world.url(case.url), **kwargs)
    # A streamed body is read to its end, which closes it as the test client does
    # (without the request_finished signal, which would close the connection).
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    return response, body.decode(errors="replace")


def _mismatches(world, cases: list[Case]) -> list[str]:
    found = []
    for case in cases:
        url = world.url(case.url)
        for principal in PRINCIPALS:
            with rolled_back():
                response, body = _request(world, principal, case)
            got = outcome_of(
                response.status_code,
                response.get("Location", ""),
                external=case.external,
            )
            wanted = case.expect[principal]
            where = f"{case.method} {url} as {principal}"
            if got != wanted:
                found.append(
                    f"{where}: expected {wanted}, got {got} "
                    f"({response.status_code} {response.get('Location', '')})".rstrip()
                )
            elif got == ALLOWED and case.private:
                shown = str(world.values[case.private]) in body
                if shown and principal not in case.seen_by:
                    found.append(f"{where}: shows trainee A's {case.private}")
                if not shown and principal in case.seen_by:
                    # Otherwise the check above could never fail.
                    found.append(f"{where}: does not show A's {case.private}")
    return found


@pytest.mark.parametrize("key", list(ROUTES))
def test_route(world, db, key):
    """Each principal meets exactly the table's outcome on the route's requests:
    refusals as stated, permitted principals not refused, and no principal finds
    trainee A's private objects on a page that is not A's."""
    mismatches = _mismatches(world, ROUTES[key])
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_prefix_sample(world, db, prefix):
    """The library areas refuse whom their rule says, on a sample of their URLs."""
    mismatches = _mismatches(world, PREFIXES[prefix])
    assert not mismatches, "\n".join(mismatches)


# --- The table covers every route -----------------------------------------------------
def _prefix_of(key: str) -> str | None:
    return next((prefix for prefix in PREFIXES if key.startswith(prefix)), None)


def test_every_route_is_in_the_table():
    """Every route of the URL configuration has a row, or lies under a library
    prefix rule; a view of the project's own always has its own row. (A new URL
    fails here until the table says who may reach it.)"""
    uncovered = [
        f"{route.key} ({route.name or 'unnamed'}, {route.view})"
        for route in routes()
        if route.key not in ROUTES and (route.ours or _prefix_of(route.key) is None)
    ]
    assert uncovered == []


def test_routes_sharing_a_pattern_are_all_known():
    """When several routes share a pattern (the API's operations on one path),
    the table knows each of them, so a new method on a known path is not missed."""
    names: dict[str, set[str]] = {}
    for route in routes():
        names.setdefault(route.key, set()).add(route.name)
    shared = {key: found for key, found in names.items() if len(found) > 1}
    assert shared == SHARED_PATTERNS


def test_every_row_names_a_route(world, db):
    """No row or prefix rule outlives its routes, and every concrete URL of a row
    or a prefix sample reaches that row's route."""
    keys = {route.key for route in routes()}
    assert [key for key in ROUTES if key not in keys] == []
    assert [p for p in PREFIXES if not any(k.startswith(p) for k in keys)] == []
    wrong = []
    for key, cases in ROUTES.items():
        wrong += [
            case.url
            for case in cases
            if route_key_of(world.url(case.url)) != (key if case.routed else None)
        ]
    for prefix, cases in PREFIXES.items():
        wrong += [
            case.url
            for case in cases
            if not route_key_of(world.url(case.url)).startswith(prefix)
        ]
    assert wrong == []


def test_an_instructor_of_another_course_is_refused_a_trainees_submission(world, db):
    """An instructor who does not teach trainee A's programme is refused A's
    submission, as A's other trainees are: a 404, its existence not confirmed."""
    response = world.client("other_instructor").get(world.url(f"{SUBMISSION}/"))
    assert response.status_code == 404


def test_cached_pages_are_each_readers_own(world, db, settings):
    """With the page caches on, as in production, every principal is answered each
    Wagtail page from the cache on a later visit, and every answer is their own:
    the header names them and no one else (anonymous visitors: no one)."""
    from django.utils.html import escape

    from lms.pagecache import HIT_HEADER

    settings.PAGE_CACHE_SECONDS = 300
    names = {principal: escape(str(user)) for principal, user in world.users.items()}
    clients = {principal: world.client(principal) for principal in PRINCIPALS}
    problems = []
    # A's pages are stored first; anonymous visitors come once more at the end.
    for principal in (*PRINCIPALS, "anonymous"):
        for page in ("lesson", "programme"):
            url = world.url(f"{{{page}}}")
            # The first visit may only set the CSRF cookie; a later one is stored,
            # the next answered from the cache.
            hits = []
            for _visit in range(3):
                response = clients[principal].get(url)
                body = response.content.decode()
                shown = {p for p, name in names.items() if name in body}
                if shown != ({principal} if principal in names else set()):
                    problems.append(f"{url} as {principal} names {sorted(shown)}")
                hits.append(response.get(HIT_HEADER))
            if hits[-1] != "hit":
                problems.append(f"{url} as {principal}: never from the cache {hits}")
    assert not problems, "\n".join(problems)
