"""The site against a real JupyterHub: users, spawn, files, stop, hub down."""

import random
import time

import pytest
from django.test import Client

from labs import hub, services
from labs.models import LabSession
from tests.factories import UserFactory


@pytest.fixture
def learner(db):
    # Random ids: hub users outlive each test's rolled-back database.
    return UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")


def wait_ready(name: str, timeout: float = 90) -> hub.ServerStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hub.server_status(name)
        if status.ready:
            return status
        time.sleep(0.5)
    pytest.fail(f"server of {name} not ready after {timeout} s")


def test_hub_usernames_are_stable_and_distinct():
    """Each site user maps to one valid hub name, the same every time."""
    assert hub.hub_username(7) == hub.hub_username(7) == "u7"
    assert hub.hub_username(7) != hub.hub_username(70)


def test_user_ensure_creates_the_hub_user_once(hub_settings, learner):
    """The site (a hub service) creates the trainee's hub user; again is harmless."""
    name = hub.hub_username(learner.pk)
    assert not hub.server_status(name).exists
    hub.user_ensure(name)
    hub.user_ensure(name)
    status = hub.server_status(name)
    assert status.exists is False and status.ready is False


def test_launch_spawns_places_the_lab_and_never_overwrites_work(tiny_lab, learner):
    """Launch starts the server and places notebook and data; a relaunch keeps the
    trainee's edits; an explicit reset restores the original and keeps a copy."""
    name = hub.hub_username(learner.pk)
    launch = services.lab_launch(user=learner, lab=tiny_lab)
    assert launch.lab_url.endswith(f"/user/{name}/lab/tree/tiny-lab/tiny-lab.ipynb")
    if launch.status == "starting":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    session = LabSession.objects.get(user=learner, lab=tiny_lab)
    assert session.state == LabSession.State.RUNNING
    assert session.placed_version == 1

    placed = hub.contents_get_notebook(name, "tiny-lab/tiny-lab.ipynb")
    sources = "".join("".join(cell["source"]) for cell in placed["cells"])
    assert "raise NotImplementedError" in sources  # the release, not the solution
    assert "BEGIN HIDDEN TESTS" not in sources
    assert hub.contents_exists(name, "tiny-lab/data/qty.csv")

    placed["cells"][2]["source"] = "def double(x):\n    return x + x\n"
    hub.contents_put_notebook(name, "tiny-lab/tiny-lab.ipynb", placed)
    again = services.lab_launch(user=learner, lab=tiny_lab)
    assert again.status == "ready"
    kept = hub.contents_get_notebook(name, "tiny-lab/tiny-lab.ipynb")
    assert "".join(kept["cells"][2]["source"]) == "def double(x):\n    return x + x\n"

    services.lab_files_place(user=learner, lab=tiny_lab, reset=True)
    fresh = hub.contents_get_notebook(name, "tiny-lab/tiny-lab.ipynb")
    assert "raise NotImplementedError" in "".join(fresh["cells"][2]["source"])
    copies = [  # the dated copy of the trainee's work sits next to it
        path
        for path in _listing(name, "tiny-lab")
        if path.startswith("tiny-lab/tiny-lab-") and path.endswith(".ipynb")
    ]
    assert len(copies) == 1
    kept_copy = hub.contents_get_notebook(name, copies[0])
    assert "return x + x" in "".join(kept_copy["cells"][2]["source"])

    services.lab_stop(user=learner)
    deadline = time.monotonic() + 30
    while hub.server_status(name).exists and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not hub.server_status(name).ready
    session.refresh_from_db()
    assert session.state == LabSession.State.STOPPED


def _hub_calls(monkeypatch) -> list[tuple[str, str]]:
    """Records each request the site makes of the hub and the servers behind it
    (method, path after /hub/api, or after the server's /user/<name>/ and
    /api/contents/), still made."""
    import re

    from django.conf import settings

    calls = []
    original = hub._request

    def recorded(method, url, **kwargs):
        path = url.removeprefix(settings.JUPYTERHUB_API_URL)
        if path == url:  # a trainee's server
            path = re.sub(r"^.*?/user/[^/]+/(api/contents/)?", "", url)
        calls.append((method, path))
        return original(method, url, **kwargs)

    monkeypatch.setattr(hub, "_request", recorded)
    return calls


def _server_calls(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The calls made of the trainee's server (not of the hub's API)."""
    return [call for call in calls if not call[1].startswith("/users/")]


def test_a_launch_asks_the_hub_and_places_the_lab_in_one_request(
    tiny_lab, learner, monkeypatch
):
    """A trainee's first launch creates their hub user, starts the server and
    places the lab's folders and files in one request to it (the place extension
    of labs/trainee-jupyter); a relaunch asks the hub once more and places again,
    which writes nothing: the files are there."""
    name = hub.hub_username(learner.pk)
    calls = _hub_calls(monkeypatch)
    launch = services.lab_launch(user=learner, lab=tiny_lab)
    assert calls[:2] == [
        ("POST", f"/users/{name}"),  # the trainee's first lab: no hub user yet
        ("POST", f"/users/{name}/server"),
    ]
    if launch.status != "ready":
        assert calls[2:] == []  # nothing to place in a server not there yet
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    assert _server_calls(calls) == [("POST", hub.PLACE_PATH)]
    assert set(_listing(name, "tiny-lab")) == {
        "tiny-lab/data",
        "tiny-lab/tiny-lab.ipynb",
    }
    assert set(_listing(name, "tiny-lab/data")) == {"tiny-lab/data/qty.csv"}

    calls.clear()
    assert services.lab_launch(user=learner, lab=tiny_lab).status == "ready"
    assert calls == [
        ("POST", f"/users/{name}/server"),  # 400: already running
        ("GET", f"/users/{name}"),
        ("POST", hub.PLACE_PATH),
    ]
    services.lab_stop(user=learner)


def test_a_hub_that_lost_its_users_gets_the_trainee_again(
    tiny_lab, learner, monkeypatch
):
    """A trainee who launched before (the site has their lab session) but whom the
    hub does not know (its database was reset): the refused start creates the hub
    user and starts again."""
    LabSession.objects.create(user=learner, lab=tiny_lab)
    name = hub.hub_username(learner.pk)
    calls = _hub_calls(monkeypatch)
    launch = services.lab_launch(user=learner, lab=tiny_lab)
    assert calls[:3] == [
        ("POST", f"/users/{name}/server"),  # 404: no such hub user
        ("POST", f"/users/{name}"),
        ("POST", f"/users/{name}/server"),
    ]
    if launch.status != "ready":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    assert hub.contents_exists(name, "tiny-lab/tiny-lab.ipynb")
    services.lab_stop(user=learner)


def test_a_server_without_the_place_extension_gets_the_files_one_by_one(
    tiny_lab, learner, monkeypatch
):
    """A server that does not serve the place endpoint (404, as a server image
    without labs/trainee-jupyter's extension answers) gets the lab through the
    contents API: one listing (the lab's folder, missing) and one PUT per folder
    and file; placing again lists the lab's folders and writes nothing, so the
    trainee's edits stay."""
    monkeypatch.setattr(hub, "PLACE_PATH", "silkroute/no-such-endpoint")
    name = hub.hub_username(learner.pk)
    calls = _hub_calls(monkeypatch)
    if services.lab_launch(user=learner, lab=tiny_lab).status != "ready":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    assert _server_calls(calls) == [
        ("POST", "silkroute/no-such-endpoint"),  # 404
        ("GET", "tiny-lab"),
        ("PUT", "tiny-lab"),
        ("PUT", "tiny-lab/tiny-lab.ipynb"),
        ("PUT", "tiny-lab/data"),
        ("PUT", "tiny-lab/data/qty.csv"),
    ]
    assert set(_listing(name, "tiny-lab/data")) == {"tiny-lab/data/qty.csv"}
    hub.contents_put_file(name, "tiny-lab/data/qty.csv", b"qty\n7\n")

    calls.clear()
    services.lab_files_place(user=learner, lab=tiny_lab)
    assert calls == [
        ("POST", "silkroute/no-such-endpoint"),
        ("GET", "tiny-lab"),
        ("GET", "tiny-lab/data"),
    ]
    data = hub._contents_request(
        "GET", name, "tiny-lab/data/qty.csv", params={"format": "text"}
    )
    assert data.json()["content"] == "qty\n7\n"
    session = LabSession.objects.get(user=learner, lab=tiny_lab)
    assert session.state == LabSession.State.RUNNING
    services.lab_stop(user=learner)


def test_a_file_where_the_labs_folder_belongs_is_a_clear_error(tiny_lab, learner):
    """The trainee made a file named like the lab's data folder: placing says so
    and keeps their file; the session records the failure."""
    name = hub.hub_username(learner.pk)
    if services.lab_launch(user=learner, lab=tiny_lab).status != "ready":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    hub._contents_request("DELETE", name, "tiny-lab/data/qty.csv")
    hub._contents_request("DELETE", name, "tiny-lab/data")
    hub.contents_put_file(name, "tiny-lab/data", b"mine")
    with pytest.raises(services.LabError, match="a file where a folder belongs"):
        services.lab_files_place(user=learner, lab=tiny_lab)
    session = LabSession.objects.get(user=learner, lab=tiny_lab)
    assert session.state == LabSession.State.FAILED
    assert "tiny-lab/data" in session.last_error
    assert sorted(_listing(name, "tiny-lab")) == [
        "tiny-lab/data",
        "tiny-lab/tiny-lab.ipynb",
    ]
    assert hub._contents_request("GET", name, "tiny-lab/data").json()["type"] == "file"
    services.lab_stop(user=learner)


def _listing(name: str, folder: str) -> list[str]:
    import httpx
    from django.conf import settings

    response = httpx.get(
        f"{settings.JUPYTERHUB_URL}/user/{name}/api/contents/{folder}",
        headers={"Authorization": f"token {settings.JUPYTERHUB_API_TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return [item["path"] for item in response.json()["content"]]


def test_without_the_site_token_a_trainees_files_are_out_of_reach(
    hub_settings, learner
):
    """The hub API and a trainee's contents refuse a token that is not the site's."""
    import httpx

    name = hub.hub_username(learner.pk)
    bogus = {"Authorization": "token not-a-real-token"}
    api = httpx.get(f"{hub_settings.JUPYTERHUB_API_URL}/users/{name}", headers=bogus)
    assert api.status_code == 403
    files = httpx.get(
        f"{hub_settings.JUPYTERHUB_URL}/user/{name}/api/contents/", headers=bogus
    )
    assert files.status_code in (302, 403, 404)
    assert files.status_code != 200


def test_hub_down_is_a_clear_message_not_a_500(db, hub_settings, tiny_lab, learner):
    """With the hub unreachable, launching says so and offers a retry, never a 500."""
    hub_settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    with pytest.raises(services.LabError, match="not reachable"):
        services.lab_launch(user=learner, lab=tiny_lab)
    client = Client()
    client.force_login(learner)
    response = client.post(
        "/en/labs/tiny-lab/launch/", {"next": "/en/dashboard/"}, follow=True
    )
    assert response.status_code == 200
    assert "not reachable" in response.content.decode()
    session = LabSession.objects.get(user=learner, lab=tiny_lab)
    assert session.state == LabSession.State.FAILED


def test_validate_works_in_the_trainees_server(tiny_lab, learner):
    """The Validate button's two URLs answer in a trainee's server (nbgrader is
    imported on the first validation, not at start): the version check, and the
    validation of the placed notebook, whose unanswered cell fails its test."""
    import httpx
    from django.conf import settings

    name = hub.hub_username(learner.pk)
    if services.lab_launch(user=learner, lab=tiny_lab).status != "ready":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    server = httpx.Client(
        base_url=f"{settings.JUPYTERHUB_URL}/user/{name}",
        headers={"Authorization": f"token {settings.JUPYTERHUB_API_TOKEN}"},
        timeout=120,
    )
    from importlib.metadata import version

    checked = server.get("/nbgrader_version", params={"version": version("nbgrader")})
    assert checked.json() == {"success": True}
    assert (
        server.get("/nbgrader_version", params={"version": "0"}).json()["success"]
        is False
    )
    result = server.post(
        "/assignments/validate", data={"path": "tiny-lab/tiny-lab.ipynb"}
    ).json()
    assert result["success"] is True, result
    assert result["value"]["failed"]  # the release's answer is not written yet
    services.lab_stop(user=learner)


def test_trainees_server_is_jupyterlab_without_the_tools_trainees_do_not_use(
    tiny_lab, learner
):
    """A trainee's server serves JupyterLab at the lab's notebook, with Validate,
    but no terminals, no language servers, no Notebook 7 interface and an extension
    manager that cannot install anything (labs/trainee-jupyter: each cost CPU at
    every server's start, and installing would change everyone's environment)."""
    import json
    import re

    import httpx
    from django.conf import settings

    name = hub.hub_username(learner.pk)
    if services.lab_launch(user=learner, lab=tiny_lab).status != "ready":
        wait_ready(name)
        services.lab_files_place(user=learner, lab=tiny_lab)
    server = httpx.Client(
        base_url=f"{settings.JUPYTERHUB_URL}/user/{name}",
        headers={"Authorization": f"token {settings.JUPYTERHUB_API_TOKEN}"},
        timeout=60,
    )
    page = server.get("/lab/tree/tiny-lab/tiny-lab.ipynb")
    assert page.status_code == 200
    config = json.loads(
        re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            page.text,
            re.DOTALL,
        ).group(1)
    )
    assert config["terminalsAvailable"] is False
    assert config["extensionManager"]["can_install"] is False
    assert "@jupyter-notebook/lab-extension" in config["disabledExtensions"]
    assert server.get("/api/contents/tiny-lab/tiny-lab.ipynb").status_code == 200
    assert server.get("/api/terminals").status_code == 404
    assert server.get("/lsp/status").status_code == 404
    assert server.get("/tree").status_code == 404  # Notebook 7's file browser
    services.lab_stop(user=learner)


def test_the_hub_database_is_in_wal_mode_and_the_site_token_is_hashed_once(hub):
    """labs/hubdb.py and labs/jupyterhub_config.py: the hub's SQLite commits append
    to a write-ahead log, and the site's random token is stored hashed with one
    round, as the hub's own tokens are (not 16,384, as for a password)."""
    import sqlite3

    database = sqlite3.connect(hub["state"] / "jupyterhub.sqlite")
    try:
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        hashed = database.execute(
            "SELECT api_tokens.hashed FROM api_tokens"
            " JOIN services ON api_tokens.service_id = services.id"
            " WHERE services.name = 'silkroute-site'"
        ).fetchall()
    finally:
        database.close()
    assert len(hashed) == 1
    algorithm, rounds, _salt, _digest = hashed[0][0].split(":")
    assert (algorithm, rounds) == ("sha512", "1")


def test_hub_clients_load_the_ca_bundle_once_per_process(hub_settings, monkeypatch):
    """Readiness checks and progress streams (a new client each) share the process's
    TLS settings: httpx would otherwise load the CA bundle for each, 40 ms of CPU."""
    import asyncio
    import ssl

    loads = []
    original = ssl.SSLContext.load_verify_locations

    def counted(context, *args, **kwargs):
        loads.append(args or kwargs)
        return original(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    hub._ssl_context.cache_clear()
    monkeypatch.setattr(hub, "_CLIENT", None)
    name = hub.hub_username(random.randint(10_000_000, 20_000_000))
    hub.user_ensure(name)

    async def progress() -> list:
        return [event async for event in hub.server_progress(name)]

    for _ in range(3):
        assert hub.hub_ready() is None
        with pytest.raises(hub.SpawnFailed):  # no server: the hub answers 400
            asyncio.run(progress())
    assert len(loads) == 1
