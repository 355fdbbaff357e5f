"""Websocket access: every route of lms/routing.py, opened by every principal
through the site's ASGI application (origin check, session cookie, auth stack),
against an explicit table of who is accepted and who is closed with which code.

The principals are those of the HTTP matrix (``test_access_matrix``). Beyond the
handshake: trainee B's sockets never carry trainee A's events, and B's lab progress
socket asks the hub about B's server only.

Sync tests drive the sockets through ``async_to_sync``: the consumers' database
lookups then run in the test's thread, inside its transaction.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from grading import services as grading_services
from labs import hub
from lms.accounts.events import user_group
from lms.asgi import application
from lms.routing import websocket_urlpatterns
from tests.security.helpers import PRINCIPALS, world_built

ACCEPTED = "accepted"
# Close codes of the consumers: 4401 anonymous, 4403 not for this role, 4404 unknown
# (or not taught).
SIGN_IN, FORBIDDEN, UNKNOWN = 4401, 4403, 4404


def expect(default, **cells) -> dict[str, object]:
    return {principal: cells.get(principal, default) for principal in PRINCIPALS}


# Route pattern -> [(concrete path, outcome per principal)]
SOCKETS: dict[str, list[tuple[str, dict[str, object]]]] = {
    # Each user's own group (grades, certificates): anyone signed in.
    "ws/notifications/": [("/ws/notifications/", expect(ACCEPTED, anonymous=SIGN_IN))],
    # Spawn progress of the caller's own server (the hub gives every site user
    # one): anyone signed in, for a published lab.
    "ws/labs/<slug:slug>/progress/": [
        ("/ws/labs/{lab}/progress/", expect(ACCEPTED, anonymous=SIGN_IN)),
        ("/ws/labs/no-such-lab/progress/", expect(UNKNOWN, anonymous=SIGN_IN)),
    ],
    # A lab's gradebook: the instructors who teach a programme that opens the lab,
    # and superusers; another programme's instructor meets "unknown", as the
    # gradebook's pages answer 404.
    "ws/gradebook/<slug:slug>/": [
        (
            "/ws/gradebook/{lab}/",
            expect(
                FORBIDDEN,
                anonymous=SIGN_IN,
                instructor=ACCEPTED,
                other_instructor=UNKNOWN,
                admin=ACCEPTED,
            ),
        ),
        (
            "/ws/gradebook/no-such-lab/",
            expect(
                FORBIDDEN,
                anonymous=SIGN_IN,
                instructor=UNKNOWN,
                other_instructor=UNKNOWN,
                admin=UNKNOWN,
            ),
        ),
    ],
}


class RecordingHub(ThreadingHTTPServer):
    """Stands in for JupyterHub's REST API (no hub runs in the suite): records each
    path asked for and answers a spawn's progress with one "ready" event."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _RecordingHubHandler)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hub/api"


class _RecordingHubHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path)
        if not self.path.endswith("/server/progress"):
            self.send_error(404)
            return
        body = b'data: {"progress": 100, "ready": true, "message": "Ready"}\n\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    with world_built(django_db_blocker, tmp_path_factory.mktemp("sockets")) as built:
        yield built


@pytest.fixture(scope="module")
def recording_hub():
    server = RecordingHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _hub_and_connection(settings, monkeypatch, recording_hub):
    """The recording hub answers for JupyterHub. channels closes "old" connections
    around each database call, as a server should; here that connection is the
    test's own, inside its transaction, so it stays open."""
    settings.JUPYTERHUB_API_URL = recording_hub.api_url
    settings.JUPYTERHUB_URL = recording_hub.api_url.removesuffix("/hub/api")
    recording_hub.paths.clear()
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def _communicator(world, principal: str, path: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if principal in world.sessions:
        cookie = f"{settings.SESSION_COOKIE_NAME}={world.sessions[principal]}"
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, world.url(path), headers=headers)


def _outcome(world, principal: str, path: str) -> object:
    async def run():
        communicator = _communicator(world, principal, path)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return ACCEPTED if connected else code

    return async_to_sync(run)()


def test_every_websocket_route_is_in_the_table():
    """Each websocket route has a row (a new consumer fails here until the table
    says who may open it), and no row outlives its route."""
    assert sorted(str(route.pattern) for route in websocket_urlpatterns) == sorted(
        SOCKETS
    )


@pytest.mark.parametrize("key", list(SOCKETS))
def test_socket(world, db, key):
    """Each principal is accepted, or closed with the table's code, by each socket."""
    mismatches = []
    for path, expected in SOCKETS[key]:
        for principal in PRINCIPALS:
            got = _outcome(world, principal, path)
            if got != expected[principal]:
                mismatches.append(
                    f"{world.url(path)} as {principal}: "
                    f"expected {expected[principal]}, got {got}"
                )
    assert not mismatches, "\n".join(mismatches)


def test_a_trainees_events_do_not_reach_another_trainee(world, db):
    """Trainee A's events (sent to A's group and to the lab's gradebook) never reach
    trainee B's notifications socket: B receives only what is sent to B."""

    async def run():
        communicator = _communicator(world, "other_trainee", "/ws/notifications/")
        connected, _code = await communicator.connect()
        assert connected
        layer = get_channel_layer()
        a_id, b_id = world.users["trainee"].pk, world.users["other_trainee"].pk
        for group, event_type, marker in (
            (user_group(a_id), "notify", "for A"),
            (
                grading_services.gradebook_group(world.values["lab_id"]),
                "submission",
                "gb",
            ),
            (user_group(b_id), "notify", "for B"),
        ):
            await layer.group_send(group, {"type": event_type, "data": {"m": marker}})
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    # Sent in order through one channel layer: had A's event reached B, it would
    # have arrived first.
    assert async_to_sync(run)() == {"type": "notify", "data": {"m": "for B"}}


def test_lab_progress_relays_only_the_callers_own_server(world, db, recording_hub):
    """Trainee B opening the progress socket of the lab A works in is told about B's
    own server: the hub is asked about B's server and never about A's."""

    async def run():
        communicator = _communicator(world, "other_trainee", "/ws/labs/{lab}/progress/")
        connected, _code = await communicator.connect()
        assert connected
        messages = [await communicator.receive_json_from(timeout=10) for _ in "12"]
        await communicator.disconnect()
        return messages

    progress, outcome = async_to_sync(run)()

    b_server = hub.hub_username(world.users["other_trainee"].pk)
    assert recording_hub.paths == [f"/hub/api/users/{b_server}/server/progress"]
    assert progress["type"] == "progress"
    # The lab's files are not released in this world: placing them fails, and B is
    # told so rather than handed a URL.
    assert outcome["type"] == "failed"
