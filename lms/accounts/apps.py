from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "lms.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from lms.accounts.readerstate import on_record_change

        # A changed account (name, role, language) changes the pages it is shown.
        for signal in (post_save, post_delete):
            signal.connect(
                on_record_change, sender=get_user_model(), dispatch_uid="reader-user"
            )
