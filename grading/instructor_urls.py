"""URLs of the instructor's gradebook pages (namespace ``grading``)."""

from django.urls import path

from grading import views_instructor as views

urlpatterns = [
    path("gradebook/", views.gradebook_index, name="gradebook_index"),
    path("gradebook/labs/<slug:slug>/", views.gradebook_lab, name="gradebook_lab"),
    path("gradebook/labs/<slug:slug>/csv/", views.gradebook_csv, name="gradebook_csv"),
    path(
        "gradebook/labs/<slug:slug>/regrade/",
        views.gradebook_regrade,
        name="gradebook_regrade",
    ),
    path(
        "gradebook/submissions/<int:pk>/",
        views.gradebook_submission,
        name="gradebook_submission",
    ),
    path(
        "gradebook/submissions/<int:pk>/regrade/",
        views.gradebook_submission_regrade,
        name="gradebook_submission_regrade",
    ),
    path(
        "gradebook/submissions/<int:pk>/notebook/",
        views.gradebook_submission_notebook,
        name="gradebook_submission_notebook",
    ),
]
