"""The one settings module: every value comes from the environment.

Development needs no environment at all: the database is a SQLite file under ``var/``,
the secret key is generated into ``var/``, and Redis (broker, channel layer, cache) is a
private server on a Unix socket under ``var/run/`` that ``make demo`` and the test suite
start themselves. Production sets ``DEBUG=false`` and real values; nothing secret has a
production default.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():  # optional local overrides, never committed
    environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("DEBUG", default=True)


def _secret(name: str, file: str) -> str:
    """``$name``, else (development only) a value generated once into ``var/file``."""
    value = env.str(name, default="")
    if value or not DEBUG:
        return value or env.str(name)  # production: raises ImproperlyConfigured
    import secrets

    path = VAR_DIR / file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret("SECRET_KEY", "secret_key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",
    "lms.accounts",
    "labs",
    "courses",
    "grading",
    "lms",
    "wagtail.contrib.forms",
    "wagtail.contrib.redirects",
    "wagtail.contrib.simple_translation",
    "wagtail.contrib.table_block",  # the lesson body's table block: its template
    "wagtail.locales",
    "wagtail.embeds",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.snippets",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django_filters",
    "allauth",
    "allauth.account",
    "ninja",
    "oauth2_provider",
    "channels",
    "csp",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
]

MIDDLEWARE = [
    "lms.middleware.RequestIdMiddleware",  # first: every later log line carries it
    "lms.middleware.DatabaseUnavailableMiddleware",  # 503 while the database is away
    "django.middleware.security.SecurityMiddleware",
    # Above the page cache, so that a cached page gets the header too.
    "lms.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A hit (anonymous or a signed-in reader's own page) skips everything below.
    "lms.middleware.PageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lms.accounts.middleware.PreferredLanguageMiddleware",
    "lms.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "wagtail.contrib.redirects.middleware.RedirectMiddleware",
]

ROOT_URLCONF = "lms.urls"
ASGI_APPLICATION = "lms.asgi.application"
# uvicorn processes serving the site on one port (`manage.py runplatform`): about
# one per core; containers run one each and scale by replicas instead.
WEB_WORKERS = env.int("WEB_WORKERS", default=1)
# Threads per web process running HTTP requests (lms/http.py); requests beyond them
# wait on the process's event loop. Each holds at most one database connection.
WEB_THREADS = env.int("WEB_THREADS", default=8)
if WEB_THREADS < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"WEB_THREADS must be 1 or more, not {WEB_THREADS}")
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "lms" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and workers read while one of them writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
elif env.bool("WEB_PROCESS", default=False) and env.int(
    "DATABASE_POOL_SIZE", default=WEB_THREADS
):
    # The web server (lms/asgi.py sets WEB_PROCESS): its WEB_THREADS threads take
    # connections from a pool of at most DATABASE_POOL_SIZE per process (as many as
    # threads unless set; 0 turns it off: a persistent connection per thread),
    # waiting up to DATABASE_POOL_TIMEOUT seconds for one when all are busy. While
    # PostgreSQL is down they do not wait: lms/postgresql answers at once (503).
    DATABASES["default"]["ENGINE"] = "lms.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them
    # Django then has the pool check a connection before handing it out: one that
    # PostgreSQL dropped (a restart) is replaced, not given to a request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=WEB_THREADS),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=20.0),
        "max_idle": 300,
    }
else:
    # Celery's prefork processes and management commands: one thread each, so one
    # persistent connection each.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: the broker, the channel layer and the cache. Unset, it is the private server
# that `manage.py runplatform` (make demo) and the test suite start on this socket.
REDIS_SOCKET = VAR_DIR / "run" / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default="") or f"unix://{REDIS_SOCKET}"
REDIS_IS_PRIVATE = f"unix://{REDIS_SOCKET}" == REDIS_URL

# The cache (login throttling, Wagtail) must work in any process, even a management
# command run while the private Redis is down: files under var/ unless Redis is given.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="lms"),
    }
    if REDIS_IS_PRIVATE
    else {
        # Redis down is a cache miss, not a 500 (lms/cache.py); short timeouts.
        "BACKEND": "lms.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="lms"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}
# Anonymous visitors' Wagtail pages, whole, in that cache (lms/pagecache.py): stale
# at once when any page is published, unpublished, moved or deleted; 0 turns it off.
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=300)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # No client-side read timeout, as before redis-py 8 (whose default of
            # 5 s equals channels_redis's blocking wait and killed idle consumers):
            # channels_redis blocks server-side for 5 s at most anyway, and with a
            # timeout around the blocking read a cancelled consumer (a closed
            # websocket) could swallow its cancellation and never finish.
            "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
            "prefix": env.str("CHANNEL_PREFIX", default="lms"),
        },
    }
}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or (
    f"redis+socket://{REDIS_SOCKET}" if REDIS_IS_PRIVATE else REDIS_URL
)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a grading is long: don't hoard messages
# Redis redelivers an unacknowledged message after this; longer than any grading.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900)
}
# Task events (`celery worker -E`): monitors such as Flower see tasks sent and run.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULE = {
    "submissions-requeue-stuck": {
        "task": "grading.submissions_requeue_stuck",
        "schedule": env.int("GRADING_SWEEP_SECONDS", default=60),
    },
}

# --- Accounts ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
# Sessions are read from the cache (written to the database too): a signed-in
# page does not spend a query on its session.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
SITE_ID = 1

ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "lms.accounts.forms.SignupExtraForm"
ACCOUNT_ADAPTER = "lms.accounts.adapter.AccountAdapter"
# Throttle failed logins: 5 per account per 5 minutes, 10 a minute per address.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
# Where django.core.mail.backends.filebased.EmailBackend writes, when chosen.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Silkroute Academy <noreply@localhost>"
)

# --- Languages --------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
WAGTAIL_CONTENT_LANGUAGES = LANGUAGES
WAGTAIL_I18N_ENABLED = True
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# --- Wagtail ----------------------------------------------------------------------
WAGTAIL_SITE_NAME = "Silkroute Academy"
WAGTAILADMIN_BASE_URL = SITE_URL
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
WAGTAILDOCS_EXTENSIONS = ["csv", "pdf", "txt", "xlsx", "zip", "ipynb", "docx", "pptx"]
WAGTAILIMAGES_MAX_UPLOAD_SIZE = 10 * 1024 * 1024

# --- API --------------------------------------------------------------------------
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

# --- Labs (JupyterHub) ---------------------------------------------------------------
# The hub is reached through its proxy at JUPYTERHUB_URL; the site is a JupyterHub
# service (JUPYTERHUB_API_TOKEN) and the OAuth2 provider the hub signs users in with.
JUPYTERHUB_URL = env.str("JUPYTERHUB_URL", default="http://127.0.0.1:8001").rstrip("/")
JUPYTERHUB_API_URL = env.str("JUPYTERHUB_API_URL", default=f"{JUPYTERHUB_URL}/hub/api")
JUPYTERHUB_API_TOKEN = _secret("JUPYTERHUB_API_TOKEN", "hub/site_api_token")
HUB_OAUTH_CLIENT_ID = env.str("HUB_OAUTH_CLIENT_ID", default="jupyterhub")
HUB_OAUTH_CLIENT_SECRET = _secret("HUB_OAUTH_CLIENT_SECRET", "hub/oauth_client_secret")
HUB_ENABLED = env.bool("HUB_ENABLED", default=True)  # runplatform starts the hub
READYZ_CHECK_HUB = env.bool("READYZ_CHECK_HUB", default=True)
HUB_STATE_DIR = Path(env.str("HUB_STATE_DIR", default=str(VAR_DIR / "hub")))
HUB_IDLE_TIMEOUT = env.int("HUB_IDLE_TIMEOUT", default=3600)  # seconds
HUB_SPAWN_TIMEOUT = env.int("HUB_SPAWN_TIMEOUT", default=90)  # seconds
HUB_CONCURRENT_SPAWN_LIMIT = env.int("HUB_CONCURRENT_SPAWN_LIMIT", default=20)
# Trainees' servers forked from one that has imported JupyterLab (labs/forkserver.py)
# rather than each started from scratch; local processes only.
HUB_FORK_SERVER = env.bool("HUB_FORK_SERVER", default=True)
# The site's hub client: each request waits HUB_CLIENT_TIMEOUT; a request that is safe
# to repeat (reads, user creation, stop, placing files) is retried after a timeout
# until HUB_CLIENT_DEADLINE, so a busy hub makes a slow launch, not a failed one.
HUB_CLIENT_TIMEOUT = env.float("HUB_CLIENT_TIMEOUT", default=20.0)  # seconds
HUB_CLIENT_DEADLINE = env.float("HUB_CLIENT_DEADLINE", default=45.0)  # seconds
# Requests the hub's proxy forwards at once (tornado's default, 10, queued the hub
# API behind a burst of starting servers until requests timed out).
HUB_PROXY_MAX_CLIENTS = env.int("HUB_PROXY_MAX_CLIENTS", default=512)
LABS_SOURCE_DIR = Path(
    env.str("LABS_SOURCE_DIR", default=str(BASE_DIR / "labs" / "notebooks"))
)
OAUTH2_PROVIDER = {
    "SCOPES": {"identity": "Your Silkroute Academy identity, to open labs"},
    "DEFAULT_SCOPES": ["identity"],
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # The OAuth 2.0 Security BCP (RFC 9700), adopted now rather than at DOT 4.0.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # The hub's OAuth callback lives under JUPYTERHUB_URL: https in production; plain
    # http only in development or when the hub itself is served over http (the
    # production-shaped run on loopback, deploy/prod-local.sh).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"]
    if DEBUG or JUPYTERHUB_URL.startswith("http://")
    else ["https"],
}

# --- Grading ----------------------------------------------------------------------
# Where each grading's throw-away course directory lives: outside VAR_DIR, which the
# sandboxed kernel cannot see. Sandbox: auto | strict | rlimits (grading/sandbox.py).
GRADING_WORK_DIR = Path(env.str("GRADING_WORK_DIR", default="/tmp/silkroute-grading"))  # noqa: S108
GRADING_SANDBOX = env.str("GRADING_SANDBOX", default="auto")
GRADING_UID_BASE = env.int("GRADING_UID_BASE", default=61000)
GRADING_UID_COUNT = env.int("GRADING_UID_COUNT", default=64)
GRADING_CELL_TIMEOUT = env.int("GRADING_CELL_TIMEOUT", default=20)  # seconds
GRADING_JOB_TIMEOUT = env.int("GRADING_JOB_TIMEOUT", default=120)  # seconds
GRADING_MEMORY_MB = env.int("GRADING_MEMORY_MB", default=1024)
GRADING_MAX_PROCESSES = env.int("GRADING_MAX_PROCESSES", default=64)
GRADING_MAX_FILE_MB = env.int("GRADING_MAX_FILE_MB", default=16)
GRADING_MAX_OUTPUT_KB = env.int("GRADING_MAX_OUTPUT_KB", default=1024)
SUBMISSION_MAX_BYTES = env.int("SUBMISSION_MAX_BYTES", default=5 * 1024 * 1024)
GRADING_MAX_DELIVERIES = env.int("GRADING_MAX_DELIVERIES", default=3)
GRADING_STUCK_AFTER = env.int("GRADING_STUCK_AFTER", default=600)  # seconds

# --- Credentials (certificates as signed Open Badges 3.0 credentials) ------------
# The issuer's Ed25519 key: a PEM file (CREDENTIALS_KEY_FILE) or PEM text
# (CREDENTIALS_KEY) in production; otherwise generated on first use into
# CREDENTIALS_KEY_DIR, where `manage.py rotate_issuer_key` adds new ones. Every key
# in that folder stays published, so credentials signed by older keys still verify.
CREDENTIALS_KEY_FILE = env.str("CREDENTIALS_KEY_FILE", default="")
CREDENTIALS_KEY = env.str("CREDENTIALS_KEY", default="")
CREDENTIALS_KEY_DIR = Path(
    env.str("CREDENTIALS_KEY_DIR", default=str(VAR_DIR / "keys" / "issuer"))
)
# did:web of the issuer; empty: derived from SITE_URL's host.
CREDENTIALS_ISSUER_DID = env.str("CREDENTIALS_ISSUER_DID", default="")
CREDENTIALS_ISSUER_NAME = env.str(
    "CREDENTIALS_ISSUER_NAME", default="Silkroute Academy"
)
CREDENTIALS_STATUS_LIST_BITS = env.int("CREDENTIALS_STATUS_LIST_BITS", default=131072)
CREDENTIALS_STATUS_CACHE_SECONDS = env.int(
    "CREDENTIALS_STATUS_CACHE_SECONDS", default=3600
)
# Public verification (/verify, /credentials/<id>, POST /api/v1/verify): requests
# per client address, in the shared cache ("60/m", "1000/h"; "0" turns it off).
VERIFY_RATE_LIMIT = env.str("VERIFY_RATE_LIMIT", default="60/m")
# Rows of one bulk verification (POST /api/v1/verify/bulk); more is refused (413).
VERIFY_BULK_MAX_ROWS = env.int("VERIFY_BULK_MAX_ROWS", default=50000)

# --- Proxies ----------------------------------------------------------------------
# How many proxies in front of the site append to X-Forwarded-For: the client is the
# address that many entries from the right. 0: the header is never trusted.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT  # the login throttle agrees

# --- Content ----------------------------------------------------------------------
CURRICULUM_DIR = Path(
    env.str("CURRICULUM_DIR", default=str(BASE_DIR / "courses" / "content"))
)

# --- Demo -------------------------------------------------------------------------
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="")

# --- Security (production values come from DEBUG=false) --------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"  # Wagtail's preview overrides it to SAMEORIGIN itself

# Content Security Policy (django-csp): the site's pages run only the scripts and
# styles of its own static files; no inline script, style or event handler. The
# live pages' websockets are allowed to the request's own host (its ws:// or wss://
# origin, added per request by lms.middleware.ContentSecurityPolicyMiddleware).
# Forms post to the site, and to the hub: "Open lab" answers its POST with a
# redirect to JupyterLab, and a browser holds a form's redirects to form-action.
_HUB = urlsplit(JUPYTERHUB_URL)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF, f"{_HUB.scheme}://{_HUB.netloc}"],
    },
}
# Wagtail's and Django's admin write inline scripts (inline panels, date pickers)
# and style attributes, and Wagtail shows its page previews in a frame of its own:
# under these prefixes the policy allows inline scripts and styles, blob: images
# (upload previews) and same-origin frames instead. Everything else stays as above.
CONTENT_SECURITY_POLICY_ADMIN = {
    "URL_PREFIXES": ["/admin/", "/django-admin/"],
    "DIRECTIVES": {
        "script-src": [SELF, UNSAFE_INLINE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
    },
}
# Wagtail's admin shows Gravatar images by default: a request to a third party for
# every avatar, which the policy would block anyway.
WAGTAIL_GRAVATAR_PROVIDER_URL = None

# text: the message alone (a terminal, journald); json: one object per line with
# time, level, logger, message, request_id and exception (lms/logging.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "lms.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "lms.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        name: {"level": "WARNING"}
        for name in ("daphne", "django_tasks", "django.tasks", "wagtail", "modelsearch")
    },
}
# Celery's worker and beat keep Django's LOGGING for JSON (lms/celery.py); text keeps
# Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
