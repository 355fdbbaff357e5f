"""Websocket routes. Apps add their consumers here as they gain live features."""

from django.urls import path

from grading.consumers import GradebookConsumer
from labs.consumers import LabProgressConsumer
from lms.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
    path("ws/labs/<slug:slug>/progress/", LabProgressConsumer.as_asgi()),
    path("ws/gradebook/<slug:slug>/", GradebookConsumer.as_asgi()),
]
