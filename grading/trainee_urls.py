"""URLs of the trainee's submission pages (namespace ``grading``)."""

from django.urls import path

from grading import views_trainee

urlpatterns = [
    path(
        "labs/<slug:slug>/submissions/",
        views_trainee.lab_submissions,
        name="lab_submissions",
    ),
    path(
        "labs/<slug:slug>/submissions/part/",
        views_trainee.lab_submissions_part,
        name="lab_submissions_part",
    ),
    path(
        "submissions/<int:pk>/",
        views_trainee.submission_feedback,
        name="submission_feedback",
    ),
    path(
        "submissions/<int:pk>/part/",
        views_trainee.submission_feedback_part,
        name="submission_feedback_part",
    ),
]
