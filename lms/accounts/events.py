"""The one helper that pushes live events to browsers, after the database commits.

It lives in the lowest layer so that every app can tell users what happened; the
consumers that deliver the events (``lms.consumers``, ``grading.consumers``) join the
groups named here.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def group_send_on_commit(*, group: str, event_type: str, data: dict) -> None:
    """Send ``data`` as ``event_type`` to ``group`` once the transaction commits.

    Best effort: the state is already committed and every page can fetch it over
    HTTP, so a channel layer that is down (Redis restarting, or not started yet, as
    while ``seed_demo`` runs) is logged, never raised into the committed action.
    """

    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(
                group, {"type": event_type, "data": data}
            )
        except Exception as error:  # the Redis client raises many kinds
            log.warning("Live event %s to %s not sent: %s", event_type, group, error)

    transaction.on_commit(send)


def user_notify_on_commit(*, user_id: int, data: dict) -> None:
    """Send ``data`` to every open page of ``user_id`` once the transaction commits."""
    group_send_on_commit(group=user_group(user_id), event_type="notify", data=data)
