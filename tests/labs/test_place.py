"""The place endpoint of trainees' servers (labs/trainee-jupyter/extensions/
silkroute_place.py), asked directly, on a real hub's server."""

import base64
import random
import time

import httpx
import pytest
from django.conf import settings

from labs import hub, services
from tests.factories import UserFactory


@pytest.fixture
def server(tiny_lab):
    """A trainee's running server with the tiny lab placed: (hub name, a client on
    the server's URL with the site's token)."""
    learner = UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")
    name = hub.hub_username(learner.pk)
    if services.lab_launch(user=learner, lab=tiny_lab).status != "ready":
        deadline = time.monotonic() + 90
        while not hub.server_status(name).ready:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        services.lab_files_place(user=learner, lab=tiny_lab)
    with httpx.Client(
        base_url=f"{settings.JUPYTERHUB_URL}/user/{name}",
        headers={"Authorization": f"token {settings.JUPYTERHUB_API_TOKEN}"},
        timeout=30,
    ) as client:
        yield name, client
    services.lab_stop(user=learner)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def listing(client: httpx.Client, folder: str) -> set[str]:
    response = client.get(f"/api/contents/{folder}")
    if response.status_code == 404:
        return set()
    return {item["path"] for item in response.json()["content"]}


def text(client: httpx.Client, path: str) -> str:
    response = client.get(f"/api/contents/{path}", params={"format": "text"})
    response.raise_for_status()
    return response.json()["content"]


def test_places_what_is_missing_keeps_what_is_there_and_can_be_repeated(server):
    """Missing folders and files are created; a file already there (the trainee's)
    is kept as it is; the same request again places nothing."""
    name, client = server
    client.put(
        "/api/contents/tiny-lab/data/qty.csv",
        json={"type": "file", "format": "text", "content": "mine\n"},
    ).raise_for_status()
    body = {
        "folder": "tiny-lab",
        "files": {
            "data/qty.csv": b64(b"release\n"),
            "data/extra/deep.csv": b64(b"a,b\n1,2\n"),
            "notes.txt": b64("笔记\n".encode()),
        },
    }
    first = client.post(f"/{hub.PLACE_PATH}", json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "placed": ["tiny-lab/data/extra/deep.csv", "tiny-lab/notes.txt"],
        "kept": ["tiny-lab/data/qty.csv"],
    }
    assert text(client, "tiny-lab/data/qty.csv") == "mine\n"
    assert text(client, "tiny-lab/data/extra/deep.csv") == "a,b\n1,2\n"
    assert text(client, "tiny-lab/notes.txt") == "笔记\n"

    again = client.post(f"/{hub.PLACE_PATH}", json=body)
    assert again.json()["placed"] == []
    assert sorted(again.json()["kept"]) == sorted(
        ["tiny-lab/data/qty.csv", "tiny-lab/data/extra/deep.csv", "tiny-lab/notes.txt"]
    )

    # The site's client answers the same through labs.hub.
    placed = hub.files_place(name, "tiny-lab", {"notes.txt": b"other"})
    assert placed == hub.Placed(placed=[], kept=["tiny-lab/notes.txt"])
    assert text(client, "tiny-lab/notes.txt") == "笔记\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "Expected a JSON object"),
        ({"files": {"a.txt": "YQ=="}}, "folder must be a relative path"),
        ({"folder": "/etc", "files": {"a.txt": "YQ=="}}, "must be a relative path"),
        ({"folder": "../up", "files": {"a.txt": "YQ=="}}, "plain relative path"),
        ({"folder": "lab", "files": {"a/../../b.txt": "YQ=="}}, "plain relative"),
        ({"folder": "lab", "files": {"a//b.txt": "YQ=="}}, "plain relative path"),
        ({"folder": "lab", "files": {}}, "'files' must map 1 to 500"),
        ({"folder": "lab", "files": ["a.txt"]}, "'files' must map 1 to 500"),
        ({"folder": "lab", "files": {"a.txt": "not base64!"}}, "not base64"),
        ({"folder": "lab", "files": {"a.txt": 7}}, "not base64"),
        ({"folder": "lab", "files": {".hidden/a.txt": "YQ=="}}, "hidden file"),
    ],
)
def test_a_bad_request_is_refused_with_its_reason_and_writes_nothing(
    server, body, reason
):
    _name, client = server
    before = listing(client, "")
    response = client.post(f"/{hub.PLACE_PATH}", json=body)
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert listing(client, "") == before
    assert listing(client, "lab") == set()


def test_a_file_where_a_folder_belongs_is_a_conflict_and_is_kept(server):
    name, client = server
    client.put(
        "/api/contents/tiny-lab/sub",
        json={"type": "file", "format": "text", "content": "mine"},
    ).raise_for_status()
    response = client.post(
        f"/{hub.PLACE_PATH}",
        json={"folder": "tiny-lab", "files": {"sub/a.csv": b64(b"x")}},
    )
    assert response.status_code == 409
    assert response.json()["path"] == "tiny-lab/sub"
    assert text(client, "tiny-lab/sub") == "mine"
    with pytest.raises(hub.HubError, match="tiny-lab/sub in your lab is a file"):
        hub.files_place(name, "tiny-lab", {"sub/a.csv": b"x"})


def test_only_the_site_or_the_trainee_may_place(server):
    """Without a token that may write the trainee's files, nothing is placed."""
    _name, client = server
    response = httpx.post(
        f"{client.base_url}/{hub.PLACE_PATH}",
        json={"folder": "tiny-lab", "files": {"intruder.txt": b64(b"x")}},
        headers={"Authorization": "token not-a-real-token"},
        timeout=30,
    )
    assert response.status_code in (302, 403)
    assert "tiny-lab/intruder.txt" not in listing(client, "tiny-lab")
