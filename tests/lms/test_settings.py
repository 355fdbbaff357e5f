import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 30 + "-production-like-secret-key-0123456789",
    "ALLOWED_HOSTS": "academy.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://academy.example.org",
    "SITE_URL": "https://academy.example.org",
    "JUPYTERHUB_URL": "https://labs.example.org",
    "DATABASE_URL": "sqlite:////tmp/silkroute-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "JUPYTERHUB_API_TOKEN": "hub-service-token-from-a-secret-store",
    "HUB_OAUTH_CLIENT_SECRET": "hub-oauth-secret-from-a-secret-store",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "lms.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# Run in the production process after its deploy check: the settings that make
# browsers keep to https, send cookies only over it and refuse to frame the site.
SECURITY_SETTINGS = (
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "X_FRAME_OPTIONS",
    "CONTENT_SECURITY_POLICY",
    "MIDDLEWARE",
)
DEPLOY_CHECK = f"""
import json
from django.conf import settings
from django.core.management import call_command
call_command("check", deploy=True, fail_level="WARNING")
print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))
"""


@pytest.mark.engine_free  # settings read by a fresh process
def test_deploy_check_is_clean_with_production_values():
    """`check --deploy --fail-level WARNING` passes with production values, which
    give Secure session and CSRF cookies, an HTTPS redirect with a year of HSTS,
    X-Frame-Options DENY and a Content Security Policy with frame-ancestors
    'none' whose only form target besides the site is the hub's https origin."""
    result = _manage("shell", "-c", DEPLOY_CHECK, env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    values = json.loads(result.stdout.splitlines()[-1])

    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    directives = values["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == directives["style-src"] == ["'self'"]
    assert directives["form-action"] == ["'self'", "https://labs.example.org"]
    assert "lms.middleware.ContentSecurityPolicyMiddleware" in values["MIDDLEWARE"]


@pytest.mark.engine_free  # settings read by a fresh process
def test_production_refuses_to_start_without_a_secret_key():
    """No secret has a production default: DEBUG=false without SECRET_KEY fails."""
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.engine_free  # settings read by a fresh process
def test_web_threads_below_one_is_refused_by_name():
    """WEB_THREADS=0 would fail deep in the web server's start (a pool of no
    threads); the settings refuse it, naming the variable."""
    result = _manage("check", env={"WEB_THREADS": "0"})
    assert result.returncode != 0
    assert "WEB_THREADS must be 1 or more, not 0" in result.stderr


@pytest.mark.engine_free  # settings read by a fresh process
def test_development_generates_its_secret_key_under_var(tmp_path):
    """Without SECRET_KEY, development writes one into var/ and reuses it."""
    env = {"VAR_DIR": str(tmp_path), "DEBUG": "true"}
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = _manage("shell", "-c", code, env=env)
    second = _manage("shell", "-c", code, env=env)
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text().strip()
    assert len(key) >= 50
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1] == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_database_follows_database_url(db):
    """DATABASE_URL picks the engine; without it the embedded SQLite default is used."""
    from django.db import connection

    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres", "pgsql")) else "sqlite"
    assert connection.vendor == expected
