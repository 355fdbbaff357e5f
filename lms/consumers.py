"""A signed-in user's live notifications: anything sent to group ``user-<pk>``."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lms.accounts.events import user_group


class NotificationsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def notify(self, event: dict) -> None:
        await self.send_json({"type": "notify", "data": event.get("data", {})})
