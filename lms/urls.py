from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from oauth2_provider import views as oauth2_views
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from labs import views as lab_views
from lms import dashboard, views_ops
from lms.accounts import views as account_views
from lms.api import api

# The OAuth 2.0 endpoints of the hub's sign-in (authorization code with PKCE), and
# no more: oauth2_provider.urls would also let any signed-in user register OAuth
# applications and publish device-flow, OpenID Connect and client-registration
# endpoints, none of which the site uses (the hub is its one client).
oauth2_urlpatterns = (
    [
        path("authorize/", oauth2_views.AuthorizationView.as_view(), name="authorize"),
        path("token/", oauth2_views.TokenView.as_view(), name="token"),
        path(
            "revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"
        ),
    ],
    "oauth2_provider",
)

urlpatterns = [
    path("favicon.ico", dashboard.favicon, name="favicon"),
    path("healthz", dashboard.healthz, name="healthz"),
    path("readyz", dashboard.readyz, name="readyz"),
    path("api/v1/", api.urls),
    path("admin/", include(wagtailadmin_urls)),
    path("django-admin/", admin.site.urls),
    path("documents/", include(wagtaildocs_urls)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("o/", include(oauth2_urlpatterns, namespace="oauth2_provider")),
    path("labs/hub-identity/", lab_views.hub_identity, name="hub_identity"),
    path("", include("grading.credentials.urls")),
]

urlpatterns += i18n_patterns(
    path("accounts/profile/", account_views.profile, name="profile"),
    path("accounts/", include("allauth.urls")),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("learn/", include("courses.urls")),
    path("labs/", include("labs.urls")),
    path("grading/", include("grading.urls")),
    path("ops/queues/", views_ops.queues, name="ops_queues"),
    path("", include(wagtail_urls)),
    prefix_default_language=True,
)

if settings.DEBUG:
    # Development serves Wagtail's images (originals and renditions) and nothing else
    # of MEDIA_ROOT: it also holds lab source archives (solutions and hidden tests),
    # submitted notebooks and documents, whose privacy /documents/ checks. Production
    # serves no media from Django.
    from django.urls import re_path
    from django.views.static import serve

    urlpatterns = [
        re_path(
            r"^media/(?P<path>(?:original_images|images)/[^/]+)$",
            serve,
            {"document_root": settings.MEDIA_ROOT},
        ),
        *urlpatterns,
    ]
