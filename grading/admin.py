"""Submissions in the Django admin, read-mostly: grades change only through
``grading.services`` (the gradebook pages, or the regrade action here)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from grading import services
from grading.models import CellGrade, Submission


class CellGradeInline(admin.TabularInline):
    model = CellGrade
    fields = ("position", "grade_id", "kind", "points", "max_points", "hidden")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "lab",
        "attempt",
        "status",
        "score",
        "max_score",
        "passed",
        "needs_manual_grade",
        "created_at",
    )
    list_filter = ("status", "needs_manual_grade", "passed", "lab")
    search_fields = ("user__username", "user__email", "user__display_name", "sha256")
    date_hierarchy = "created_at"
    list_select_related = ("user", "lab")
    inlines = [CellGradeInline]
    actions = ["regrade"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # submissions come in through the site or the API

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # stored immutably: the record of what was handed in

    @admin.action(description=_("Regrade the selected submissions"))
    def regrade(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        count = 0
        for submission in queryset:
            try:
                services.submission_regrade(submission=submission)
            except services.SubmissionError as error:
                self.message_user(request, f"{submission}: {error}", messages.WARNING)
            else:
                count += 1
        self.message_user(
            request,
            ngettext(
                "%(n)s submission was queued for regrading.",
                "%(n)s submissions were queued for regrading.",
                count,
            )
            % {"n": count},
        )


@admin.register(CellGrade)
class CellGradeAdmin(admin.ModelAdmin):
    list_display = ("submission", "grade_id", "kind", "points", "max_points")
    list_filter = ("kind", "hidden")
    search_fields = ("grade_id", "submission__user__username")
    list_select_related = ("submission__user", "submission__lab")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
