"""URLs of the trainee's submission pages (namespace ``grading``)."""

urlpatterns: list = []
