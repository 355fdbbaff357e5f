"""Test overrides, for speed and isolation only: everything else is lms.settings."""

import os
from pathlib import Path

from lms.settings import *  # noqa: F403
from lms.settings import CACHES, CHANNEL_LAYERS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "lms-test"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "lms-test"
WHITENOISE_AUTOREFRESH = True

# Each test session has its own private Redis socket (inherited by the processes it
# starts), so suites can run beside `make demo` and beside each other.
if REDIS_IS_PRIVATE:  # noqa: F405
    REDIS_SOCKET = Path(
        os.environ.setdefault(
            "LMS_TEST_REDIS_SOCKET",
            str(VAR_DIR / "test-run" / f"redis-{os.getpid()}.sock"),  # noqa: F405
        )
    )
    REDIS_URL = f"unix://{REDIS_SOCKET}"
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL
    CELERY_BROKER_URL = f"redis+socket://{REDIS_SOCKET}"
    CACHES["default"]["LOCATION"] = str(REDIS_SOCKET.with_suffix(".cache"))
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
READYZ_CHECK_HUB = False  # the labs tests check it against their own real hub
# Isolation: a page cached by one request of a test would hide the direct database
# changes that test makes next; tests/lms/test_pagecache.py turns it on.
PAGE_CACHE_SECONDS = 0
# A PostgreSQL run may name its test database (Django's default: test_<NAME>).
if os.environ.get("DATABASE_TEST_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}  # noqa: F405
