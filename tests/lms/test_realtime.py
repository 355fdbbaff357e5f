"""Live events cross processes: a group_send in another process reaches a websocket."""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from lms.asgi import application
from lms.consumers import NotificationsConsumer

ROOT = Path(__file__).resolve().parents[2]

SEND = """
import django
django.setup()
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
async_to_sync(get_channel_layer().group_send)(
    "user-{user_id}", {{"type": "notify", "data": {{"text": "graded", "score": 9}}}}
)
"""


@pytest.mark.django_db
@pytest.mark.asyncio
async def test_event_sent_from_another_process_reaches_the_websocket(trainee):
    """Another Python process publishes through Redis; the open socket receives it."""
    communicator = WebsocketCommunicator(
        NotificationsConsumer.as_asgi(), "/ws/notifications/"
    )
    communicator.scope["user"] = trainee
    connected, _ = await communicator.connect()
    assert connected
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lms.settings_test",
        "PYTHONPATH": str(ROOT),
    }
    # Awaited, not blocking: the consumer keeps reading the channel layer meanwhile.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SEND.format(user_id=trainee.pk),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    message = await communicator.receive_json_from(timeout=10)
    assert message == {"type": "notify", "data": {"text": "graded", "score": 9}}
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_anonymous_websocket_is_rejected():
    """The consumer closes an anonymous connection instead of joining a group."""
    communicator = WebsocketCommunicator(application, "/ws/notifications/")
    communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect()
    assert not connected
