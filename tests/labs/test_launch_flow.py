"""Launching through the site: the progress websocket, the API, /readyz."""

import random

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from labs import hub
from labs.consumers import LabProgressConsumer
from tests.factories import UserFactory


@pytest.fixture
def learner(db):
    return UserFactory(pk=random.randint(10_000, 10_000_000), role="trainee")


@pytest.mark.late
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_progress_websocket_relays_spawn_then_opens_the_lab(
    hub_settings, tiny_release
):
    """After launch, the consumer relays the hub's progress events and ends with
    ``ready`` and the lab URL, the notebook already placed."""
    import shutil

    from asgiref.sync import sync_to_async

    from labs import services
    from labs.models import Lab

    # A transactional test (the consumer reads the database from another thread):
    # its own rows, made here rather than by the rolled-back fixtures.
    learner = await sync_to_async(UserFactory)(
        pk=random.randint(10_000, 10_000_000), role="trainee"
    )
    tiny_lab = await sync_to_async(Lab.objects.create)(
        slug="tiny-lab",
        title="Tiny lab",
        notebook="tiny-lab.ipynb",
        data_files=["data/qty.csv"],
        points=2,
        pass_mark=50,
        status=Lab.Status.PUBLISHED,
    )
    shutil.copytree(tiny_release, services.lab_release_dir(tiny_lab))

    launch = await sync_to_async(services.lab_launch)(user=learner, lab=tiny_lab)
    name = hub.hub_username(learner.pk)
    communicator = WebsocketCommunicator(
        LabProgressConsumer.as_asgi(), f"/ws/labs/{tiny_lab.slug}/progress/"
    )
    communicator.scope["user"] = learner
    communicator.scope["url_route"] = {"kwargs": {"slug": tiny_lab.slug}}
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=120)
        messages.append(message)
        if message["type"] in ("ready", "failed"):
            break
    assert messages[-1] == {"type": "ready", "progress": 100, "url": launch.lab_url}
    progress = [m for m in messages if m["type"] == "progress"]
    assert progress, messages
    assert await sync_to_async(hub.contents_exists)(name, "tiny-lab/tiny-lab.ipynb")
    await sync_to_async(hub.server_stop)(name)


@pytest.mark.asyncio
async def test_progress_websocket_rejects_anonymous_users():
    from django.contrib.auth.models import AnonymousUser

    communicator = WebsocketCommunicator(
        LabProgressConsumer.as_asgi(), "/ws/labs/tiny-lab/progress/"
    )
    communicator.scope["user"] = AnonymousUser()
    communicator.scope["url_route"] = {"kwargs": {"slug": "tiny-lab"}}
    connected, _ = await communicator.connect()
    assert not connected


def test_api_launch_answers_with_status_and_urls(tiny_lab, learner):
    """POST /api/v1/labs/<slug>/launch → {status, progress_url, lab_url}."""
    from lms.accounts.services import api_token_create

    token = api_token_create(user=learner)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    listing = client.get("/api/v1/labs")
    assert listing.status_code == 200
    assert [lab["slug"] for lab in listing.json()] == ["tiny-lab"]
    response = client.post("/api/v1/labs/tiny-lab/launch")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] in ("ready", "starting")
    assert body["progress_url"] == "/ws/labs/tiny-lab/progress/"
    assert body["lab_url"].endswith(
        f"/user/{hub.hub_username(learner.pk)}/lab/tree/tiny-lab/tiny-lab.ipynb"
    )
    assert client.post("/api/v1/labs/nope/launch").status_code == 404
    hub.server_stop(hub.hub_username(learner.pk))


def test_api_launch_is_for_trainees_and_reports_a_dead_hub(
    tiny_lab, learner, hub_settings
):
    from lms.accounts.services import api_token_create

    employer = UserFactory(role="employer")
    denied = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=employer)}")
    assert denied.post("/api/v1/labs/tiny-lab/launch").status_code == 403
    hub_settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=learner)}")
    response = client.post("/api/v1/labs/tiny-lab/launch")
    assert response.status_code == 503
    assert "not reachable" in response.json()["detail"]


def test_readyz_reports_the_hub(db, hub_settings):
    """/readyz is ready with the hub up, and 503 naming the hub when it is down."""
    hub_settings.READYZ_CHECK_HUB = True
    up = Client().get("/readyz")
    assert up.status_code == 200, up.content
    assert up.json()["checks"]["hub"] == "ok"
    hub_settings.JUPYTERHUB_API_URL = "http://127.0.0.1:9/hub/api"
    down = Client().get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["hub"].startswith("error")


def test_hub_identity_needs_an_oauth_token_and_names_the_hub_user(db, learner):
    """The hub's sign-on endpoint answers only to a valid token, with u<id>."""
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    assert Client().get("/labs/hub-identity/").status_code in (401, 403)
    app = Application.objects.create(
        name="hub",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1:1/hub/oauth_callback",
    )
    token = AccessToken.objects.create(
        user=learner,
        application=app,
        token="tok-" + str(learner.pk),
        expires=timezone.now() + timedelta(minutes=5),
        scope="identity",
    )
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token.token}").get(
        "/labs/hub-identity/"
    )
    assert response.status_code == 200
    assert response.json()["name"] == f"u{learner.pk}"
