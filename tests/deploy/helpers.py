"""What the deployment files are checked against: the names the code reads."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# The image's working directory and VAR_DIR (deploy/Dockerfile).
IMAGE_APP_DIR = Path("/app")
IMAGE_VAR_DIR = Path("/srv/var")

_SETTINGS_NAME = re.compile(
    r"""\b(?:env(?:\.(?:str|int|bool|list|db|float|path|url|json))?|_secret)\(\s*"""
    r"""["']([A-Z][A-Z0-9_]*)["']"""
)
_ENVIRON_NAME = re.compile(
    r"""os\.environ(?:\.get\(\s*|\[\s*)["']([A-Z][A-Z0-9_]*)["']"""
)
_REQUIRED_ENVIRON_NAME = re.compile(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']""")
_SECRET_SETTING = re.compile(r"""_secret\(\s*["']([A-Z][A-Z0-9_]*)["']""")


def settings_names() -> set[str]:
    """Every environment variable lms/settings.py reads."""
    text = (ROOT / "lms" / "settings.py").read_text(encoding="utf-8")
    names = set(_SETTINGS_NAME.findall(text))
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= names
    return names


def secret_settings() -> set[str]:
    """The settings that production requires and development generates."""
    text = (ROOT / "lms" / "settings.py").read_text(encoding="utf-8")
    return set(_SECRET_SETTING.findall(text))


def hub_config_names(*, required_only: bool = False) -> set[str]:
    """Every environment variable labs/jupyterhub_config.py reads."""
    text = (ROOT / "labs" / "jupyterhub_config.py").read_text(encoding="utf-8")
    pattern = _REQUIRED_ENVIRON_NAME if required_only else _ENVIRON_NAME
    return set(pattern.findall(text))


def is_secret_name(name: str) -> bool:
    return name in secret_settings() or bool(
        re.search(r"SECRET|PASSWORD|TOKEN", name) or name == "CREDENTIALS_KEY"
    )


def runplatform_commands() -> dict[str, list[str]]:
    """runplatform's commands for web, worker, beat and hub, as they run in the image:
    bare program names, the project's files relative to /app, VAR_DIR at /srv/var."""
    from django.test import override_settings

    from lms.management.commands import runplatform

    with override_settings(HUB_ENABLED=True):
        processes = runplatform.processes("0.0.0.0", 8000)  # noqa: S104
    commands = {}
    for name in ("web", "worker", "beat", "hub"):
        command, _ = processes[name]
        normal = [Path(command[0]).name]
        for part in command[1:]:
            path = Path(part)
            if path.is_absolute() and path.is_relative_to(settings.VAR_DIR):
                part = str(IMAGE_VAR_DIR / path.relative_to(settings.VAR_DIR))
            elif path.is_absolute() and path.is_relative_to(settings.BASE_DIR):
                part = str(path.relative_to(settings.BASE_DIR))
            normal.append(part)
        commands[name] = normal
    return commands


# Options a deployment adds to runplatform's commands (and nothing else).
EXTRA_OPTIONS = {
    "web": set(),
    "worker": {"--concurrency"},  # containers do not see the node's core count
    "beat": set(),
    "hub": {"--JupyterHub.bind_url"},  # the proxy listens on all addresses
}


def assert_same_process(name: str, command: list[str], expected: list[str]) -> None:
    """``command`` is runplatform's command for ``name``, plus allowed options."""
    assert command[: len(expected)] == expected, (name, command, expected)
    extra = command[len(expected) :]
    options = set()
    index = 0
    while index < len(extra):
        option, _, value = extra[index].partition("=")
        assert option.startswith("--"), (name, extra)
        options.add(option)
        index += 1 if value else 2
    assert options <= EXTRA_OPTIONS[name], (name, extra)


def url_patterns() -> set[str]:
    """The top-level paths of lms/urls.py, as ``/path``."""
    from django.urls import get_resolver

    return {
        "/" + str(pattern.pattern).rstrip("$").lstrip("^")
        for pattern in get_resolver().url_patterns
    }
