from urllib.parse import urlsplit

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def site_sync(**kwargs) -> None:
    """Keep the Site that account emails name in step with SITE_URL."""
    from django.conf import settings
    from django.contrib.sites.models import Site

    domain = urlsplit(settings.SITE_URL).netloc or "localhost"
    Site.objects.update_or_create(
        pk=settings.SITE_ID,
        defaults={"domain": domain, "name": settings.WAGTAIL_SITE_NAME},
    )


class LmsConfig(AppConfig):
    name = "lms"
    verbose_name = "Silkroute Academy"

    def ready(self) -> None:
        from django.apps import apps

        post_migrate.connect(site_sync, sender=apps.get_app_config("sites"))
