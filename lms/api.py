"""The versioned JSON API (``/api/v1/``); schema at ``/api/v1/openapi.json``."""

from ninja import NinjaAPI

from courses.api import router as programmes_router
from grading.api import router as grading_router
from grading.credentials.api import router as verify_router
from grading.credentials.api_holder import router as certificates_router
from labs.api import router as labs_router
from lms.accounts.api import router as auth_router

api = NinjaAPI(
    title="Silkroute Academy API",
    version="1",
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)
api.add_router("/auth", auth_router)
api.add_router("/programmes", programmes_router)
api.add_router("/labs", labs_router)
api.add_router("/verify", verify_router)
api.add_router("/certificates", certificates_router)
api.add_router("", grading_router)  # /labs/{slug}/submissions, /submissions/{id}
