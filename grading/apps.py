from django.apps import AppConfig


class GradingConfig(AppConfig):
    name = "grading"
    verbose_name = "Grading"

    def ready(self) -> None:
        # Certificate rules listen for quiz, lesson and lab results.
        from grading.credentials import receivers  # noqa: F401
