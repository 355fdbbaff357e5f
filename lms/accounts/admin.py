from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from lms.accounts.models import BearerToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "display_name", "role", "is_staff")
    list_filter = ("role", "is_staff", "is_active")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (_("Silkroute"), {"fields": ("role", "display_name", "preferred_language")}),
    )


@admin.register(BearerToken)
class BearerTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "last_used_at")
    readonly_fields = ("digest",)
