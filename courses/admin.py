from django.contrib import admin

from courses.models import Enrolment, LessonCompletion, QuizAttempt


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ("user", "programme", "status", "enrolled_at")
    list_filter = ("status",)
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user", "programme")


@admin.register(LessonCompletion)
class LessonCompletionAdmin(admin.ModelAdmin):
    list_display = ("user", "lesson", "completed_at")
    raw_id_fields = ("user", "lesson")


@admin.register(QuizAttempt)
class QuizAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "quiz_title",
        "score",
        "max_score",
        "passed",
        "submitted_at",
    )
    list_filter = ("passed",)
    raw_id_fields = ("user", "lesson")
    readonly_fields = ("answers", "feedback")
