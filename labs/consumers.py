"""Live spawn progress: relays the hub's progress events to the trainee's page."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labs import hub, services
from labs.models import Lab


@database_sync_to_async
def _lab(slug: str) -> Lab | None:
    return Lab.objects.filter(slug=slug, status=Lab.Status.PUBLISHED).first()


@database_sync_to_async
def _place(user, lab: Lab) -> str:
    services.lab_files_place(user=user, lab=lab)
    return services.lab_url(user=user, lab=lab)


class LabProgressConsumer(AsyncJsonWebsocketConsumer):
    """``ws/labs/<slug>/progress/``: progress events, then ``ready`` with the URL."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.lab = await _lab(self.scope["url_route"]["kwargs"]["slug"])
        if self.lab is None:
            await self.close(code=4404)
            return
        await self.accept()
        await self.relay(user)

    async def relay(self, user) -> None:
        name = hub.hub_username(user.pk)
        try:
            async for event in hub.server_progress(name):
                await self.send_json(
                    {
                        "type": "progress",
                        "progress": event.get("progress", 0),
                        "message": event.get("message", ""),
                    }
                )
                if event.get("failed"):
                    await self.send_json(
                        {"type": "failed", "message": event.get("message", "")}
                    )
                    await self.close()
                    return
                if event.get("ready"):
                    break
            url = await _place(user, self.lab)
        except (hub.HubError, services.LabError) as error:
            await self.send_json({"type": "failed", "message": str(error)})
            await self.close()
            return
        await self.send_json({"type": "ready", "progress": 100, "url": url})
        await self.close()
