"""The one helper that pushes live events to browsers, after the database commits."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from lms.consumers import user_group


def user_notify_on_commit(*, user_id: int, data: dict) -> None:
    """Send ``data`` to every open page of ``user_id`` once the transaction commits."""

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(
            user_group(user_id), {"type": "notify", "data": data}
        )

    transaction.on_commit(send)
