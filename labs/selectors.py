from labs.models import LabSession
from lms.accounts.models import User


def lab_sessions_for(*, user: User) -> list[LabSession]:
    """The trainee's labs with their state, most recently used first."""
    return list(
        LabSession.objects.filter(user=user)
        .select_related("lab")
        .order_by("-updated_at")
    )
