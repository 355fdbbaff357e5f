"""`make demo`'s process set: everything the grading pipeline needs runs."""

from lms.management.commands.runplatform import processes


def test_the_platform_runs_a_worker_and_beat(settings):
    """A Celery worker grades; beat runs the sweeper that re-queues stuck gradings."""
    settings.HUB_ENABLED = False
    found = processes("127.0.0.1", 8000)
    assert {"web", "worker", "beat"} <= set(found)
    assert found["worker"][0][1:4] == ["-A", "lms", "worker"]
    beat = found["beat"][0]
    assert beat[1:4] == ["-A", "lms", "beat"]
    assert str(settings.VAR_DIR) in beat[beat.index("--schedule") + 1]


def test_the_sweeper_is_scheduled(settings):
    """The beat schedule names the registered sweeper task."""
    from lms.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "grading.submissions_requeue_stuck" in names
    assert names <= set(app.tasks)
