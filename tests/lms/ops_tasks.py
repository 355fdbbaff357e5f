"""A task for the queue page's tests only: the worker they start imports it
(``--include``), so it can be seen running."""

import time

from celery import shared_task


@shared_task(name="tests.ops_sleep", ignore_result=True)
def ops_sleep(seconds: float) -> None:
    time.sleep(seconds)
