from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from lms.accounts.models import User


class SignupExtraForm(forms.Form):
    """Extra sign-up fields, merged into allauth's form."""

    display_name = forms.CharField(
        label=_("Display name"),
        max_length=120,
        required=False,
        help_text=_("How your name appears to instructors and on certificates."),
    )
    preferred_language = forms.ChoiceField(
        label=_("Preferred language"), choices=settings.LANGUAGES, initial="en"
    )

    def signup(self, request, user: User) -> None:
        user.display_name = self.cleaned_data["display_name"].strip()
        user.preferred_language = self.cleaned_data["preferred_language"]
        user.save(update_fields=["display_name", "preferred_language"])


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "preferred_language"]
