"""The one client of the JupyterHub REST API (and of single-user contents APIs).

The site is a JupyterHub service whose token has only the scopes it uses (see
``labs/jupyterhub_config.py``). Every failure becomes a ``HubError`` subclass whose
message can be shown to a trainee; nothing else in the project talks to the hub.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


class HubError(Exception):
    """The hub could not do what was asked; ``str()`` is fit for a trainee."""


class HubUnavailable(HubError):
    pass


class SpawnLimit(HubError):
    pass


class SpawnFailed(HubError):
    pass


@dataclass(frozen=True)
class ServerStatus:
    exists: bool
    ready: bool
    pending: str | None  # "spawn", "stop" or None
    url: str | None


def hub_username(user_id: int) -> str:
    """A stable, collision-free hub name for a site user, valid for any spawner."""
    return f"u{user_id}"


def _headers() -> dict[str, str]:
    return {"Authorization": f"token {settings.JUPYTERHUB_API_TOKEN}"}


_CLIENT: httpx.Client | None = None


def _client() -> httpx.Client:
    """One pooled client per process: a new connection per call costs ~27 ms here.

    The token is sent per request (``_headers()``), read from settings each time.
    """
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = httpx.Client(timeout=10.0)
    return _CLIENT


def _api(path: str) -> str:
    return f"{settings.JUPYTERHUB_API_URL}{path}"


def _unavailable(error: Exception) -> HubUnavailable:
    log.warning("JupyterHub unreachable: %s", error)
    return HubUnavailable(
        _("The lab service is not reachable right now. Please try again in a minute.")
    )


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return _client().request(method, url, headers=_headers(), **kwargs)
    except httpx.HTTPError as error:
        raise _unavailable(error) from error


def user_ensure(name: str) -> None:
    """Create the hub user ``name`` unless it exists."""
    response = _request("GET", _api(f"/users/{name}"))
    if response.status_code == 200:
        return
    if response.status_code != 404:
        raise HubError(
            _("The lab service refused the request (%(code)s).")
            % {"code": response.status_code}
        )
    created = _request("POST", _api(f"/users/{name}"))
    if created.status_code not in (201, 409):
        raise HubError(
            _("Could not create your lab account (%(code)s).")
            % {"code": created.status_code}
        )


def server_status(name: str) -> ServerStatus:
    response = _request("GET", _api(f"/users/{name}"))
    if response.status_code == 404:
        return ServerStatus(False, False, None, None)
    response.raise_for_status()
    server = response.json().get("servers", {}).get("")
    if not server:
        return ServerStatus(False, False, None, None)
    return ServerStatus(
        True, bool(server.get("ready")), server.get("pending"), server.get("url")
    )


def server_start(name: str) -> ServerStatus:
    """Ask the hub to start ``name``'s server; returns at once (it may be pending)."""
    # The hub waits up to its slow_spawn_timeout (10 s) for the spawn before it
    # answers (201, or 202 while pending), longer on a busy machine.
    response = _request("POST", _api(f"/users/{name}/server"), timeout=30.0)
    if response.status_code == 429:
        raise SpawnLimit(
            _("Many labs are starting right now. Please retry in a few seconds.")
        )
    if response.status_code in (201, 202, 400):  # 400: already running or pending
        return server_status(name)
    if response.status_code >= 500:
        raise SpawnFailed(
            _("Your lab server failed to start: %(reason)s")
            % {"reason": _reason(response)}
        )
    raise HubError(
        _("The lab service refused to start your lab (%(code)s).")
        % {"code": response.status_code}
    )


def server_stop(name: str) -> None:
    response = _request("DELETE", _api(f"/users/{name}/server"))
    if response.status_code not in (202, 204, 400, 404):
        raise HubError(
            _("Could not stop your lab (%(code)s).") % {"code": response.status_code}
        )


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)[:300]
    except ValueError:
        return response.text[:300]


async def server_progress(name: str) -> AsyncIterator[dict]:
    """The hub's spawn progress events for ``name`` (an event stream), as dicts."""
    url = _api(f"/users/{name}/server/progress")
    try:
        # The stream lasts as long as the spawn: bound each read, not the whole.
        timeout = httpx.Timeout(10.0, read=settings.HUB_SPAWN_TIMEOUT)
        async with (
            httpx.AsyncClient(headers=_headers(), timeout=timeout) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise SpawnFailed(_reason(response))
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())
    except httpx.ReadTimeout as error:
        raise SpawnFailed(
            _("Your lab is taking longer than usual to start. Please try again.")
        ) from error
    except httpx.HTTPError as error:
        raise _unavailable(error) from error


# --- The trainee's files, through the single-user server's contents API -------------


def _contents(name: str, path: str) -> str:
    return f"{settings.JUPYTERHUB_URL}/user/{name}/api/contents/{path}"


def contents_exists(name: str, path: str) -> bool:
    response = _request("GET", _contents(name, path), params={"content": "0"})
    if response.status_code == 404:
        return False
    if response.status_code == 200:
        return True
    raise HubError(
        _("Could not read your lab files (%(code)s).") % {"code": response.status_code}
    )


def contents_put_directory(name: str, path: str) -> None:
    _put(name, path, {"type": "directory"})


def contents_put_notebook(name: str, path: str, notebook: dict) -> None:
    _put(name, path, {"type": "notebook", "format": "json", "content": notebook})


def contents_put_file(name: str, path: str, data: bytes) -> None:
    _put(
        name,
        path,
        {
            "type": "file",
            "format": "base64",
            "content": base64.b64encode(data).decode(),
        },
    )


def contents_get_notebook(name: str, path: str) -> dict:
    response = _request("GET", _contents(name, path), params={"content": "1"})
    if response.status_code == 404:
        raise HubError(_("The notebook %(path)s is not in your lab.") % {"path": path})
    if response.status_code != 200:
        raise HubError(
            _("Could not read your notebook (%(code)s).")
            % {"code": response.status_code}
        )
    return response.json()["content"]


def _put(name: str, path: str, body: dict) -> None:
    response = _request("PUT", _contents(name, path), json=body)
    if response.status_code not in (200, 201):
        raise HubError(
            _("Could not place the lab files (%(code)s): %(reason)s")
            % {"code": response.status_code, "reason": _reason(response)}
        )


def hub_ready() -> str | None:
    """None when the hub's API answers, else the reason (for /readyz)."""
    try:
        with httpx.Client(timeout=3) as client:
            response = client.get(_api("/"))
    except httpx.HTTPError as error:
        return str(error)
    return None if response.status_code == 200 else f"HTTP {response.status_code}"
