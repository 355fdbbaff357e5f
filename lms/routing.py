"""Websocket routes. Apps add their consumers here as they gain live features."""

from django.urls import path

from lms.consumers import NotificationsConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationsConsumer.as_asgi()),
]
