"""Seed the demo: curricula from courses/content/, demo users, a sample enrolment."""

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from wagtail.models import Locale

from courses.content_import import curriculum_import
from courses.models import ProgrammePage
from courses.services import enrolment_create, programme_instructors_assign
from grading.credentials.seeding import graduate_certificates_ensure
from labs.services import hub_oauth_client_ensure, labs_import
from lms.accounts.services import demo_users_ensure


class Command(BaseCommand):
    help = "Create or update the demo content and users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for the demo users (default: $DEMO_PASSWORD "
            "or a generated one, printed once).",
        )

    def handle(self, *args, **options):
        labs = labs_import()
        for lab in labs:
            state = (
                "published" if lab.status == lab.Status.PUBLISHED else "NOT published"
            )
            self.stdout.write(f"Lab {lab.slug}: {state}")
            if lab.status != lab.Status.PUBLISHED:
                self.stdout.write(lab.check_log)
        hub_oauth_client_ensure()
        report = curriculum_import()
        self.stdout.write(
            f"Curricula: {len(report.created)} pages created, "
            f"{len(report.updated)} updated."
        )
        users, password = demo_users_ensure(password=options.get("password"))
        editors = Group.objects.filter(name__in=["Moderators", "Editors"])
        authoring = Permission.objects.filter(
            content_type__app_label__in=["labs", "courses", "grading"],
            codename__in=[
                f"{action}_{model}"
                for action in ("add", "change", "view")
                for model in ("lab", "skill", "certificaterule")
            ],
        )
        for group in editors:
            group.permissions.add(*authoring)
        users["instructor"].groups.add(*editors)
        programmes = list(
            ProgrammePage.objects.live()
            .filter(locale=Locale.get_default())
            .order_by("path")
        )
        for programme in programmes:
            # The demo instructor teaches every demo programme.
            if programme_instructors_assign(
                programme=programme, instructors=[users["instructor"]]
            ):
                self.stdout.write(f"instructor now teaches {programme.slug}")
        programme = programmes[0] if programmes else None
        if programme is not None:
            enrolment_create(user=users["graduate"], programme=programme)
        held = graduate_certificates_ensure(user=users["graduate"])
        for certificate in held:
            state = "revoked" if certificate.is_revoked else "valid"
            self.stdout.write(
                f"Certificate {certificate.pk} ({certificate.programme_slug}, "
                f"{state}) held by graduate"
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo users: " + ", ".join(users) + f" — password: {password}"
            )
        )
