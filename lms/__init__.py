"""Silkroute Academy: the Django project shell."""

from lms.celery import app as celery_app

__all__ = ["celery_app"]
