from django.apps import AppConfig


class CoursesConfig(AppConfig):
    name = "courses"
    verbose_name = "Courses"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save
        from wagtail.signals import page_published, page_unpublished, post_page_move

        from courses import cache

        # What readers see changed: cached pages and outlines are stale.
        for signal in (page_published, page_unpublished, post_page_move):
            signal.connect(cache.on_page_change, dispatch_uid=f"content-{id(signal)}")
        for signal in (post_save, post_delete):
            signal.connect(cache.on_model_change, dispatch_uid=f"content-{id(signal)}")

        # A reader's own records: their stored pages are stale.
        from courses.models import Enrolment, LessonCompletion, QuizAttempt
        from lms.accounts.readerstate import on_record_change

        for model in (Enrolment, LessonCompletion, QuizAttempt):
            for signal in (post_save, post_delete):
                signal.connect(
                    on_record_change,
                    sender=model,
                    dispatch_uid=f"reader-{model.__name__}-{id(signal)}",
                )
