"""Live gradebook: every state change of a lab's submissions, for instructors.

``grading.services`` sends each change after commit to the lab's group
(``services.gradebook_group``) as a ``submission`` event; this consumer relays it.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from courses.teaching import lab_taught
from grading import services
from labs.models import Lab


@database_sync_to_async
def _lab_id(slug: str, user) -> int | None:
    """The lab's id, if ``user`` teaches it (``courses.teaching``)."""
    lab = Lab.objects.filter(slug=slug).first()
    if lab is None or not lab_taught(user=user, lab=lab):
        return None
    return lab.pk


class GradebookConsumer(AsyncJsonWebsocketConsumer):
    """``ws/gradebook/<slug>/``: ``{"type": "submission", "data": {...}}`` per change.

    Closes with 4401 for anonymous users, 4403 for anyone but instructors and
    superusers, 4404 for an unknown lab or one the instructor does not teach (as
    the gradebook's pages answer 404 for it).
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not user.is_instructor:
            await self.close(code=4403)
            return
        lab_id = await _lab_id(self.scope["url_route"]["kwargs"]["slug"], user)
        if lab_id is None:
            await self.close(code=4404)
            return
        self.group = services.gradebook_group(lab_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def submission(self, event: dict) -> None:
        await self.send_json({"type": "submission", "data": event.get("data", {})})
