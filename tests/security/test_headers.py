"""Response headers and markup of the site's pages: the Content Security Policy
(django-csp, lms.middleware.ContentSecurityPolicyMiddleware), no inline script or
event handler, CSRF on every POST, and the login throttle. (Production's cookie,
HSTS and framing settings: tests/lms/test_settings.py, beside `check --deploy`.)"""

import pytest
from django.test import Client
from django.urls import (
    Resolver404,
    URLPattern,
    URLResolver,
    get_resolver,
    resolve,
    reverse,
)

from tests.factories import PASSWORD
from tests.security.hostile import (  # noqa: F401 - fixtures used by name
    IMG,
    SCRIPT,
    Markup,
    certificate,
    hostile_submission,
    hostile_trainee,
    lab,
    lesson,
    policy,
)

# name: (the fixture of the user who looks, or None; the page's address)
PAGES = {
    "catalogue": (None, lambda f: "/en/"),
    "catalogue in Chinese": (None, lambda f: "/zh-hans/"),
    "lesson with quiz and lab, visitor": (None, lambda f: f["lesson"].url),
    "lesson with quiz and lab, trainee": (
        "hostile_trainee",
        lambda f: f["lesson"].url,
    ),
    "dashboard": ("hostile_trainee", lambda f: "/en/dashboard/"),
    "verify page": (None, lambda f: f"/verify/{f['certificate'].pk}"),
    "verify form": (None, lambda f: "/verify"),
    "certificates": ("hostile_trainee", lambda f: "/en/grading/certificates/"),
    "submission feedback": (
        "hostile_trainee",
        lambda f: f"/en/grading/submissions/{f['hostile_submission'].pk}/",
    ),
    "lab submissions": (
        "hostile_trainee",
        lambda f: "/en/grading/labs/landed-cost/submissions/",
    ),
    "lab starting": ("hostile_trainee", lambda f: "/en/labs/landed-cost/progress/"),
    "gradebook": ("instructor", lambda f: "/en/grading/gradebook/labs/landed-cost/"),
    "gradebook submission (manual grading)": (
        "instructor",
        lambda f: f"/en/grading/gradebook/submissions/{f['hostile_submission'].pk}/",
    ),
    "cohorts": ("instructor", lambda f: "/en/learn/cohorts/"),
    "search": (None, lambda f: f"/en/learn/search/?q={SCRIPT}"),
    "sign in": (None, lambda f: "/en/accounts/login/"),
    "sign up": (None, lambda f: "/en/accounts/signup/"),
    "profile": ("hostile_trainee", lambda f: "/en/accounts/profile/"),
}
FIXTURES = ("lesson", "lab", "certificate", "hostile_submission", "hostile_trainee")


@pytest.fixture
def site(request, instructor) -> dict:
    """Every object the pages above need, with hostile text in it."""
    found = {name: request.getfixturevalue(name) for name in FIXTURES}
    found["instructor"] = instructor
    return found


def _get(site: dict, name: str):
    who, address = PAGES[name]
    client = Client()
    if who:
        client.force_login(site[who])
    response = client.get(address(site))
    assert response.status_code == 200, (name, response.status_code)
    return response


def _nonces(directive: list[str]) -> set[str]:
    return {s[len("'nonce-") : -1] for s in directive if s.startswith("'nonce-")}


@pytest.mark.parametrize("name", PAGES)
def test_pages_send_the_strict_policy_and_run_no_inline_code(site, name):
    """Each page's policy allows only the site's own script and style files (no
    'unsafe-inline', no 'unsafe-eval'), no plugins, no framing, no other base or
    form target than the site and the hub, websockets to its own host only; and
    the page holds nothing that policy would have to block: no inline script
    without the header's nonce (JSON data blocks are not run), no on*= handler,
    no javascript: URL, no style attribute or <style> element."""
    response = _get(site, name)
    csp = policy(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'", *(s for s in csp["script-src"][1:])]
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(csp["script-src"])
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'", "ws://testserver"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'", "http://127.0.0.1:8001"]
    assert response["X-Frame-Options"] == "DENY"

    markup = Markup(response.content.decode())
    nonces = _nonces(csp["script-src"])
    for script in markup.scripts:
        runs = script.get("type") in (None, "", "module", "text/javascript")
        if runs and not script.get("src"):
            assert script.get("nonce") in nonces, (name, script)
    if not nonces:  # every script that runs is a file
        runnable = [s for s in markup.scripts if s.get("type") != "application/json"]
        assert all(s.get("src") for s in runnable), (name, markup.scripts)
    assert markup.handlers == [], name
    assert markup.javascript_urls == [], name
    assert markup.style_attributes == [], name
    assert markup.style_elements == 0, name


@pytest.mark.parametrize(
    "name",
    [
        "dashboard",
        "submission feedback",
        "gradebook",
        "gradebook submission (manual grading)",
        "verify page",
        "search",
    ],
)
def test_hostile_text_is_shown_as_text(site, name):
    """The trainee's name, their notebook's error, comments and notes, and a search
    query are escaped where they appear: the markup is text on the page and no
    element of it exists."""
    html = _get(site, name).content.decode()
    markup = Markup(html)

    assert SCRIPT not in html and IMG not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert all(s.get("src") or s.get("type") for s in markup.scripts), name
    assert markup.handlers == []


@pytest.mark.parametrize(
    "address", ["/admin/login/", "/django-admin/login/", "/admin/pages/"]
)
def test_the_admin_gets_its_relaxed_policy(admin_client, address):
    """Wagtail's and Django's admin write inline scripts and styles: under /admin/
    and /django-admin/ the policy allows them, and same-origin frames (Wagtail's
    preview); everything else is the site's policy."""
    response = admin_client.get(address, follow=True)
    assert response.status_code == 200
    csp = policy(response["Content-Security-Policy"])

    assert csp["script-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["img-src"] == ["'self'", "data:", "blob:"]
    assert csp["frame-src"] == csp["frame-ancestors"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'", "http://127.0.0.1:8001"]
    assert "gravatar" not in response.content.decode()


def test_a_page_from_the_cache_has_the_policy_too(db, client, settings):
    """The anonymous page cache answers above most middleware: its hits carry the
    same policy as the page it stored."""
    settings.PAGE_CACHE_SECONDS = 300
    first = client.get("/en/")
    second = client.get("/en/")

    assert second["X-Page-Cache"] == "hit"
    assert second["Content-Security-Policy"] == first["Content-Security-Policy"]
    assert "'none'" in policy(second["Content-Security-Policy"])["frame-ancestors"]


def test_websockets_are_allowed_to_the_secure_origin_behind_https(db, client, settings):
    """Behind https (the proxy says so) the live pages' websockets are wss:// to
    the site's host, and nothing else."""
    settings.ALLOWED_HOSTS = ["academy.example.org"]
    settings.SECURE_SSL_REDIRECT = False
    response = client.get(
        "/en/",
        headers={"host": "academy.example.org", "x-forwarded-proto": "https"},
    )
    csp = policy(response["Content-Security-Policy"])
    assert csp["connect-src"] == ["'self'", "wss://academy.example.org"]


# --- CSRF ----------------------------------------------------------------------------

# Views that take a POST without the CSRF cookie (by module prefix), and why.
CSRF_EXEMPT = {
    # The JSON API: django-ninja checks CSRF itself for session callers (below);
    # bearer-token callers send no cookie, so there is nothing to forge.
    "ninja.operation.": "the API checks it per caller",
    # The OAuth 2.0 endpoints the hub calls server to server with its secret.
    "oauth2_provider.views.base.TokenView": "client authentication",
    "oauth2_provider.views.base.RevokeTokenView": "client authentication",
}
SAMPLE = {"int": "1", "slug": "x", "string": "x", "path": "x"}
# Patterns written as regular expressions (Wagtail's pages, allauth's password
# reset), and the admins' sign-in forms, filled in by hand.
REGEX_ADDRESSES = [
    "/en/",
    "/en/accounts/password/reset/key/1-x/",
    "/admin/login/",
    "/django-admin/login/",
]
ADMIN_ROUTES = ("admin/", "django-admin/")


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    """(route, view, name) of every URL pattern, namespaces joined."""
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            space = namespace
            if entry.namespace:
                space = f"{namespace}{entry.namespace}:"
            yield from _patterns(entry, route, space)
        elif isinstance(entry, URLPattern):
            yield route, entry, f"{namespace}{entry.name}" if entry.name else None


def _view_name(pattern: URLPattern) -> str:
    view = pattern.callback
    view = getattr(view, "view_class", None) or getattr(view, "func", view)
    return f"{view.__module__}.{getattr(view, '__qualname__', view)}"


def _address(pattern: URLPattern, name: str) -> str | None:
    import uuid

    converters = getattr(pattern.pattern, "converters", None)
    if converters is None:  # a regular expression: no simple way to fill it
        return None
    kwargs = {}
    for key, converter in converters.items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        kwargs[key] = str(uuid.uuid4()) if kind == "uuid" else SAMPLE.get(kind, "1")
    try:
        return reverse(name, kwargs=kwargs)
    except Exception:  # noqa: BLE001 - a converter our samples do not fit
        return None


def test_every_post_without_a_csrf_token_is_refused(db, instructor):
    """A POST without the CSRF token to any view of the site (its own apps, the
    sign-in, language and OAuth forms, Wagtail's pages) is refused with 403 before
    the view runs, even for a signed-in user holding the CSRF cookie; only the
    views of CSRF_EXEMPT take one, each for the reason given there. (Of the two
    admins, whose hundreds of views are Django's and Wagtail's own, their sign-in
    forms stand for the rest.)"""
    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    client.get("/en/dashboard/")  # the CSRF cookie, without its token in the form
    assert client.cookies.get("csrftoken")
    addresses, exempt = list(REGEX_ADDRESSES), set()
    for route, pattern, name in _patterns(get_resolver()):
        if name is None or route.startswith(ADMIN_ROUTES):
            continue
        if getattr(pattern.callback, "csrf_exempt", False):
            exempt.add(_view_name(pattern))
        elif address := _address(pattern, name):
            addresses.append(address)

    for address in addresses:
        response = client.post(address, {"x": "1"})
        assert response.status_code == 403, (address, response.status_code)
        assert b"CSRF" in response.content, address
    unexplained = {v for v in exempt if not v.startswith(tuple(CSRF_EXEMPT))}
    assert unexplained == set()
    for own in (
        "/en/learn/programmes/1/enrol/",
        "/en/learn/lessons/1/quizzes/x/",
        "/en/labs/x/launch/",
        "/en/grading/labs/x/submissions/",
        "/en/grading/gradebook/submissions/1/",
        "/en/grading/gradebook/submissions/1/regrade/",
        "/en/accounts/login/",
        "/en/accounts/logout/",
        "/en/accounts/profile/",
        "/i18n/setlang/",
        "/verify",
        "/o/authorize/",
        "/admin/login/",
        "/django-admin/login/",
        "/en/",
    ):
        assert own in addresses, own


def test_oauth_publishes_only_the_hub_sign_in():
    """Of django-oauth-toolkit's endpoints only those of the hub's sign-in are
    there: no page to register OAuth applications or list tokens, no device-flow,
    OpenID Connect or client-registration endpoint."""
    for address in (
        "/o/applications/",
        "/o/applications/register/",
        "/o/authorized_tokens/",
        "/o/device-authorization/",
        "/o/userinfo/",
        "/o/register/",
        "/o/.well-known/openid-configuration",
    ):
        with pytest.raises(Resolver404):
            resolve(address)
    assert {resolve(f"/o/{name}/").url_name for name in ("authorize", "token")} == {
        "authorize",
        "token",
    }


def _api_writes() -> list[tuple[str, str, bool]]:
    """(method, path, session-authenticated) of each API operation that changes
    something, from the OpenAPI schema, path parameters filled in."""
    from lms.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1")
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "put", "patch", "delete"):
                continue
            schemes = {k for s in operation.get("security", []) for k in s}
            address = path.replace("{slug}", "x").replace("{submission_id}", "1")
            found.append((method, address, "SessionAuth" in schemes))
    return found


def test_session_authenticated_api_writes_need_the_csrf_token(trainee):
    """Every API operation that changes something and accepts the browser session
    refuses a session caller without the CSRF token (403 "CSRF check Failed");
    the two that take no authentication at all (a token for a password, and
    verifying a credential) change nothing of the caller's."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(trainee)
    writes = _api_writes()
    open_writes = {path for _method, path, session in writes if not session}

    assert open_writes == {"/api/v1/auth/token", "/api/v1/verify"}
    session_writes = [(m, p) for m, p, session in writes if session]
    assert len(session_writes) >= 5
    for method, path in session_writes:
        response = getattr(client, method)(path)
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["detail"] == "CSRF check Failed", (method, path)


# --- Login throttle ------------------------------------------------------------------


def test_the_sixth_wrong_password_for_one_account_is_refused_as_throttled(trainee):
    """Five wrong passwords for an account are answered "wrong password"; the sixth
    within five minutes is refused with the throttle's message instead."""
    client = Client()
    for _ in range(5):
        response = client.post(
            "/en/accounts/login/", {"login": trainee.username, "password": "wrong"}
        )
        assert "Too many failed login attempts" not in response.content.decode()
    response = client.post(
        "/en/accounts/login/", {"login": trainee.username, "password": "wrong-6"}
    )

    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert PASSWORD != "wrong-6"
    assert "_auth_user_id" not in client.session
