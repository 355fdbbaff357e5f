from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "labs"
    verbose_name = "Labs"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from labs.models import LabSession
        from lms.accounts.readerstate import on_record_change

        # A lesson shows its reader's lab session: their stored pages are stale.
        for signal in (post_save, post_delete):
            signal.connect(
                on_record_change,
                sender=LabSession,
                dispatch_uid=f"reader-LabSession-{id(signal)}",
            )
