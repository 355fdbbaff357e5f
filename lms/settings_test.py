"""Test overrides, for speed and isolation only: everything else is lms.settings."""

from lms.settings import *  # noqa: F403
from lms.settings import CACHES, CHANNEL_LAYERS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "lms-test"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "lms-test"
WHITENOISE_AUTOREFRESH = True

# The suite's private Redis has its own socket, so it can run beside `make demo`.
if REDIS_IS_PRIVATE:  # noqa: F405
    REDIS_SOCKET = VAR_DIR / "test-run" / "redis.sock"  # noqa: F405
    REDIS_URL = f"unix://{REDIS_SOCKET}"
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]
    CELERY_BROKER_URL = f"redis+socket://{REDIS_SOCKET}"
    CACHES["default"]["LOCATION"] = str(VAR_DIR / "test-cache")  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
