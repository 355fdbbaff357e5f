from django.contrib import admin

from labs.models import Lab, LabSession


@admin.register(LabSession)
class LabSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "lab", "state", "placed_version", "updated_at")
    list_filter = ("state", "lab")
    raw_id_fields = ("user",)


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "status", "version", "checked_at")
    readonly_fields = ("status", "check_log", "checked_at")
