from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "grading"
    verbose_name = "Grading"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Certificate rules listen for quiz, lesson and lab results.
        from grading.credentials import receivers  # noqa: F401
        from grading.credentials.models import Certificate
        from grading.models import Submission
        from lms.accounts.readerstate import on_record_change

        # Lessons and programmes show their reader's submissions and certificates.
        for model in (Submission, Certificate):
            for signal in (post_save, post_delete):
                signal.connect(
                    on_record_change,
                    sender=model,
                    dispatch_uid=f"reader-{model.__name__}-{id(signal)}",
                )

        # The gradebook's lines and tallies follow every submission written.
        from grading import tallies
        from lms.accounts.models import User

        for signal in (post_save, post_delete):
            signal.connect(
                tallies.on_submission_change,
                sender=Submission,
                dispatch_uid=f"tallies-Submission-{id(signal)}",
            )
        post_save.connect(
            tallies.on_user_save, sender=User, dispatch_uid="tallies-User-post_save"
        )
