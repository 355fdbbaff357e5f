"""ASGI entry point: HTTP through Django's WSGI handler in a pool of threads
(``lms.http``), websockets through Channels."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
# The web server's process: on PostgreSQL its requests share a pool of connections
# (DATABASE_POOL_SIZE in lms/settings.py); workers and commands never import this.
os.environ.setdefault("WEB_PROCESS", "true")
from django.core.wsgi import get_wsgi_application  # noqa: E402

wsgi_app = get_wsgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from lms.http import BufferedWSGI  # noqa: E402
from lms.routing import websocket_urlpatterns  # noqa: E402

http_app = BufferedWSGI(wsgi_app, threads=settings.WEB_THREADS)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything imported so far (Django, Wagtail, the apps: ~340k objects) lives as long
# as the process, yet each full collection walks it all again (~150 ms here), and one
# that falls during a fan-out to hundreds of sockets holds back every frame of it
# (bench/live.py). Collected once, then frozen: later collections walk only what was
# made after.
gc.collect()
gc.freeze()
