"""Grading pages: the trainee's submissions and the instructor's gradebook."""

from grading.instructor_urls import urlpatterns as instructor_urlpatterns
from grading.trainee_urls import urlpatterns as trainee_urlpatterns

app_name = "grading"

urlpatterns = [*trainee_urlpatterns, *instructor_urlpatterns]
