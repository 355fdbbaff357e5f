from django.urls import path

from courses import views

app_name = "courses"

urlpatterns = [
    path("programmes/<int:page_id>/enrol/", views.enrol, name="enrol"),
    path("programmes/<int:page_id>/leave/", views.leave, name="leave"),
    path("lessons/<int:page_id>/complete/", views.lesson_complete, name="complete"),
    path(
        "lessons/<int:page_id>/quizzes/<str:quiz_id>/",
        views.quiz_submit,
        name="quiz_submit",
    ),
    path("search/", views.search, name="search"),
    path("cohorts/", views.cohort_index, name="cohort_index"),
    path("cohorts/<int:page_id>/", views.cohort_programme, name="cohort_programme"),
    path("cohorts/<int:page_id>/csv/", views.cohort_csv, name="cohort_csv"),
    path("cohorts/courses/<int:page_id>/", views.cohort_course, name="cohort_course"),
]
