"""Import curricula authored in the courses/content/ format from any directory."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.content_import import ContentError, curriculum_import


class Command(BaseCommand):
    help = (
        "Import skills.yaml and programme directories (format: "
        "courses/content/README.md). Updates pages in place; safe to repeat."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)

    def handle(self, *args, **options):
        directory: Path = options["directory"]
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        try:
            report = curriculum_import(directory)
        except ContentError as error:
            raise CommandError(f"Nothing imported: {error}") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported: {len(report.created)} pages created, "
                f"{len(report.updated)} updated."
            )
        )
