"""URLs of the certificate pages, in the language prefixes (namespace ``grading``):
the holder's under ``certificates/``, the instructor's under ``gradebook/``."""

from django.urls import path

from grading.credentials import views_holder as holder
from grading.credentials import views_instructor as instructor

urlpatterns = [
    path("certificates/", holder.certificate_list, name="certificate_list"),
    path(
        "certificates/<uuid:certificate_id>/",
        holder.certificate_detail,
        name="certificate_detail",
    ),
    path(
        "certificates/<uuid:certificate_id>/pdf/<str:language>/",
        holder.certificate_pdf_download,
        name="certificate_pdf",
    ),
    path(
        "certificates/<uuid:certificate_id>/credential.<str:fmt>",
        holder.certificate_file,
        name="certificate_file",
    ),
    path(
        "gradebook/certificates/",
        instructor.certificates_admin,
        name="certificates_admin",
    ),
    path(
        "gradebook/certificates/<uuid:certificate_id>/revoke/",
        instructor.certificate_revoke,
        name="certificate_revoke",
    ),
    path(
        "gradebook/certificates/<uuid:certificate_id>/reissue/",
        instructor.certificate_reissue,
        name="certificate_reissue",
    ),
]
