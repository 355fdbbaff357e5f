"""Public credential endpoints, outside the language prefixes (lms/urls.py)."""

from django.urls import path

from grading.credentials import views

app_name = "credentials"

urlpatterns = [
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path(".well-known/did.json", views.did_document, name="did"),
    path("credentials/status/<int:list_id>", views.status_list, name="status_list"),
    path("credentials/<uuid:certificate_id>", views.credential, name="credential"),
]
