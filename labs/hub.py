"""The one client of the JupyterHub REST API (and of single-user contents APIs).

The site is a JupyterHub service whose token has only the scopes it uses (see
``labs/jupyterhub_config.py``). Every failure becomes a ``HubError`` subclass whose
message can be shown to a trainee; nothing else in the project talks to the hub.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import ssl
import time
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


class NoHubUser(HubError):
    """The hub has no user of that name (yet)."""


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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS settings of every hub client in this process. httpx otherwise builds
    them (and loads the CA bundle) for each client it makes: 40 ms of CPU here, for
    each lab's progress stream and each readiness check."""
    return httpx.create_ssl_context()


def _client() -> httpx.Client:
    """One pooled client per process: a new connection per call costs ~27 ms here.

    The token is sent per request (``_headers()``), read from settings each time.
    """
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = httpx.Client(
            timeout=settings.HUB_CLIENT_TIMEOUT, verify=_ssl_context()
        )
    return _CLIENT


def _api(path: str) -> str:
    return f"{settings.JUPYTERHUB_API_URL}{path}"


def _unavailable(error: Exception | str) -> HubUnavailable:
    log.warning("JupyterHub unreachable: %s", error)
    return HubUnavailable(
        _(
            "The lab service is not reachable right now; your work is safe. "
            "Please try again in a minute."
        )
    )


def _server_unavailable(name: str, code: int) -> HubUnavailable:
    log.warning("The lab server of %s is not answering (%s)", name, code)
    return HubUnavailable(
        _(
            "Your lab server is not answering; your saved work is safe. Open the "
            "lab again to restart it."
        )
    )


# Methods the hub client may send again after a timeout: repeating them leaves the
# same state (reads; PUT of the same file; DELETE of a server; user creation is
# made safe by accepting 409). A POST that timed out may have started a server, so
# it is repeated only when it never reached the hub (connect or pool timeout).
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# Errors after which nothing reached the hub, so any request may be sent again.
_NOT_SENT = (httpx.ConnectTimeout, httpx.PoolTimeout)
# Statuses with which the proxy (or a gateway in front of it) says the hub or the
# server behind it is down, not that the request was wrong.
_GATEWAY_DOWN = frozenset({502, 503, 504})


def _request(
    method: str,
    url: str,
    *,
    idempotent: bool | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One request to the hub (or a server through its proxy), retried while safe.

    A busy hub answers slowly: a request that is safe to repeat is retried after a
    timeout, with a short back-off, until ``HUB_CLIENT_DEADLINE``. A refused
    connection means the hub is down and fails at once, with the clear message.
    """
    if idempotent is None:
        idempotent = method in _IDEMPOTENT
    per_request = timeout or settings.HUB_CLIENT_TIMEOUT
    deadline = time.monotonic() + max(settings.HUB_CLIENT_DEADLINE, per_request)
    pause = 0.5
    while True:
        left = deadline - time.monotonic()
        try:
            return _client().request(
                method,
                url,
                headers=_headers(),
                timeout=max(1.0, min(per_request, left)),
                **kwargs,
            )
        except httpx.TimeoutException as error:
            retry = idempotent or isinstance(error, _NOT_SENT)
            if not retry or deadline - time.monotonic() < pause + 1.0:
                raise _unavailable(error) from error
            log.info("Hub %s %s timed out; retrying", method, url)
        except httpx.HTTPError as error:
            raise _unavailable(error) from error
        time.sleep(pause)
        pause = min(pause * 2, 4.0)


def _hub_api_down(response: httpx.Response) -> None:
    """The proxy answers 502/503 for the hub's API when the hub is down."""
    if response.status_code in _GATEWAY_DOWN:
        raise _unavailable(f"HTTP {response.status_code} from {response.url}")


def user_ensure(name: str) -> None:
    """Create the hub user ``name`` unless it exists."""
    # Repeating the creation is harmless (409: it exists), so it may be retried.
    created = _request("POST", _api(f"/users/{name}"), idempotent=True)
    _hub_api_down(created)
    if created.status_code not in (201, 409):
        raise HubError(
            _("Could not create your lab account (%(code)s).")
            % {"code": created.status_code}
        )


def server_status(name: str) -> ServerStatus:
    """What the hub knows of ``name``'s server (it polls a server every 10 s, so a
    server that died is seen as stopped within about that)."""
    response = _request("GET", _api(f"/users/{name}"))
    _hub_api_down(response)
    if response.status_code == 404:
        return ServerStatus(False, False, None, None)
    if response.status_code != 200:
        raise HubError(
            _("The lab service refused the request (%(code)s).")
            % {"code": response.status_code}
        )
    server = response.json().get("servers", {}).get("")
    if not server:
        return ServerStatus(False, False, None, None)
    return ServerStatus(
        True, bool(server.get("ready")), server.get("pending"), server.get("url")
    )


def server_start(name: str) -> ServerStatus:
    """Ask the hub to start ``name``'s server; returns at once (it may be pending).

    Raises ``NoHubUser`` when the hub has no user ``name`` (``user_ensure``).
    """
    # The hub waits up to its slow_spawn_timeout (10 s) for the spawn before it
    # answers, longer on a busy machine: 201 started, 202 still starting.
    response = _request("POST", _api(f"/users/{name}/server"), timeout=30.0)
    _hub_api_down(response)
    code = response.status_code
    if code == 201:
        return ServerStatus(True, True, None, None)
    if code == 202:
        return ServerStatus(True, False, "spawn", None)
    if code == 400:  # already running, or stopping: what is it now?
        return server_status(name)
    if code == 404:
        raise NoHubUser(_("Your lab account is not set up yet."))
    if code == 429:
        raise SpawnLimit(
            _("Many labs are starting right now. Please retry in a few seconds.")
        )
    if code >= 500:
        raise SpawnFailed(
            _("Your lab server failed to start: %(reason)s")
            % {"reason": _reason(response)}
        )
    raise HubError(
        _("The lab service refused to start your lab (%(code)s).") % {"code": code}
    )


def server_stop(name: str) -> None:
    response = _request("DELETE", _api(f"/users/{name}/server"))
    _hub_api_down(response)
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
            httpx.AsyncClient(
                headers=_headers(), timeout=timeout, verify=_ssl_context()
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code in _GATEWAY_DOWN:
                raise _unavailable(f"HTTP {response.status_code} from {url}")
            if response.status_code != 200:
                await response.aread()  # a stream: its body is read on demand
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


def _contents_request(method: str, name: str, path: str, **kwargs: Any):
    """A contents API call; a server that is gone or not answering says so."""
    return _server_request(method, name, _contents(name, path), **kwargs)


def _server_request(method: str, name: str, url: str, **kwargs: Any):
    """A request to ``name``'s server; a server that is gone or not answering says so.

    Through the proxy, a server that died is a 502/503 while its route is still
    there, then (once the hub noticed) a redirect to the hub's ``/hub/user/...``;
    a server whose hub is down answers 500, not reaching the hub to check the token.
    """
    response = _request(method, url, **kwargs)
    code = response.status_code
    if code in (*_GATEWAY_DOWN, 424) or (
        response.is_redirect and "/hub/" in response.headers.get("location", "")
    ):
        raise _server_unavailable(name, code)
    if code == 500 and "Failed to connect to Hub API" in response.text:
        raise _unavailable(f"{name}'s server cannot reach the hub")
    return response


def contents_exists(name: str, path: str) -> bool:
    response = _contents_request("GET", name, path, params={"content": "0"})
    if response.status_code == 404:
        return False
    if response.status_code == 200:
        return True
    raise HubError(
        _("Could not read your lab files (%(code)s).") % {"code": response.status_code}
    )


def contents_listing(name: str, path: str) -> dict[str, str] | None:
    """The entries of folder ``path`` in ``name``'s server, name → type ("file",
    "notebook", "directory"); None when there is nothing at ``path``."""
    response = _contents_request("GET", name, path, params={"content": "1"})
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise HubError(
            _("Could not read your lab files (%(code)s).")
            % {"code": response.status_code}
        )
    model = response.json()
    if model.get("type") != "directory":
        raise HubError(
            _("%(path)s in your lab is a file where a folder belongs; rename it.")
            % {"path": path}
        )
    return {entry["name"]: entry["type"] for entry in model.get("content") or ()}


# The trainee server's extension that places a lab's files in one request
# (labs/trainee-jupyter/extensions/silkroute_place.py).
PLACE_PATH = "silkroute/place"


@dataclass(frozen=True)
class Placed:
    placed: list[str]  # written now
    kept: list[str]  # already there: the trainee's, left as they were


def files_place(name: str, folder: str, files: dict[str, bytes]) -> Placed | None:
    """Put each of ``files`` (paths in ``folder``) that is not yet in ``name``'s
    server, creating the folders they need, in one request; never overwrites.

    None when the server has no such endpoint (a server image without the
    extension): the caller places the files through the contents API.
    """
    body = {
        "folder": folder,
        "files": {
            path: base64.b64encode(data).decode() for path, data in files.items()
        },
    }
    url = f"{settings.JUPYTERHUB_URL}/user/{name}/{PLACE_PATH}"
    # Safe to repeat after a timeout: a second request finds the files there.
    response = _server_request("POST", name, url, json=body, idempotent=True)
    code = response.status_code
    if code == 404:
        return None
    if code == 409:
        raise HubError(
            _("%(path)s in your lab is a file where a folder belongs; rename it.")
            % {"path": _message(response, "path")}
        )
    if code != 200:
        raise HubError(
            _("Could not place the lab files (%(code)s): %(reason)s")
            % {"code": code, "reason": _reason(response)}
        )
    answer = response.json()
    return Placed(list(answer["placed"]), list(answer["kept"]))


def _message(response: httpx.Response, key: str) -> str:
    try:
        return str(response.json()[key])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


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
    response = _contents_request("GET", name, path, params={"content": "1"})
    if response.status_code == 404:
        raise HubError(_("The notebook %(path)s is not in your lab.") % {"path": path})
    if response.status_code != 200:
        raise HubError(
            _("Could not read your notebook (%(code)s).")
            % {"code": response.status_code}
        )
    return response.json()["content"]


def _put(name: str, path: str, body: dict) -> None:
    response = _contents_request("PUT", name, path, json=body)
    if response.status_code not in (200, 201):
        raise HubError(
            _("Could not place the lab files (%(code)s): %(reason)s")
            % {"code": response.status_code, "reason": _reason(response)}
        )


def hub_ready() -> str | None:
    """None when the hub's API answers, else the reason (for /readyz)."""
    try:
        response = _client().get(_api("/"), timeout=3)
    except httpx.HTTPError as error:
        return str(error)
    return None if response.status_code == 200 else f"HTTP {response.status_code}"
