"""URLs of the instructor's gradebook pages (namespace ``grading``)."""

urlpatterns: list = []
