"""Public credential endpoints, outside the language prefixes (lms/urls.py)."""

from django.urls import path
from django.views.generic import RedirectView

from grading.credentials import verify_pages, views

app_name = "credentials"

urlpatterns = [
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path(".well-known/did.json", views.did_document, name="did"),
    path("credentials/status/<int:list_id>", views.status_list, name="status_list"),
    path("credentials/<uuid:certificate_id>", views.credential, name="credential"),
    path("verify", verify_pages.verify_form, name="verify"),
    path("verify/", RedirectView.as_view(pattern_name="credentials:verify")),
    path(
        "verify/<str:certificate_id>",
        verify_pages.verify_certificate,
        name="verify_certificate",
    ),
]
