"""Celery tasks for labs: thin wrappers around labs.services."""

from celery import shared_task

from labs import services
from labs.models import Lab


@shared_task(name="labs.lab_publish", time_limit=600, soft_time_limit=540)
def lab_publish(lab_id: int) -> str:
    """Publish (generate + self-check) one lab; safe to run again."""
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        return "missing"
    return services.lab_publish(lab=lab).status
