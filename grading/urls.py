"""Grading pages: the trainee's submissions and certificates, the instructor's
gradebook and certificates."""

from grading.credentials.page_urls import urlpatterns as certificate_urlpatterns
from grading.instructor_urls import urlpatterns as instructor_urlpatterns
from grading.trainee_urls import urlpatterns as trainee_urlpatterns

app_name = "grading"

urlpatterns = [
    *trainee_urlpatterns,
    *instructor_urlpatterns,
    *certificate_urlpatterns,
]
