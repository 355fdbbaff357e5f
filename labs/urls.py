from django.urls import path

from labs import views

app_name = "labs"

urlpatterns = [
    path("<slug:slug>/launch/", views.launch, name="launch"),
    path("<slug:slug>/progress/", views.progress, name="progress"),
    path("<slug:slug>/reset/", views.reset, name="reset"),
    path("stop/", views.stop, name="stop"),
]
