from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from courses.models import Enrolment, LessonCompletion, ProgrammePage, QuizAttempt
from lms.accounts.admin import UserAdmin
from lms.accounts.models import User


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


class TaughtProgrammeInline(admin.TabularInline):
    """The programmes an instructor teaches, on their user page. Read-only: an
    assignment is part of the programme page's revisions, so it is made there (in
    the Wagtail admin) and published with the page."""

    model = ProgrammePage.instructors.through
    fk_name = "user"
    fields = ("programmepage",)
    readonly_fields = ("programmepage",)
    extra = 0
    can_delete = False
    verbose_name = _("programme taught")
    verbose_name_plural = _(
        "Programmes taught (assigned on the programme's page in the Wagtail admin)"
    )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(User)


@admin.register(User)
class UserWithTeachingAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, TaughtProgrammeInline]
