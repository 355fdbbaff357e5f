"""Live events are best effort: a committed action never fails because Redis is down."""

import logging

from lms.accounts.events import user_notify_on_commit

DEAD_REDIS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["unix:///nonexistent/redis.sock"]},
    }
}


def test_a_notification_with_the_channel_layer_down_is_logged_not_raised(
    trainee, settings, caplog, django_capture_on_commit_callbacks
):
    """The commit's callbacks run without raising; the lost live event is a
    warning in the log."""
    settings.CHANNEL_LAYERS = DEAD_REDIS
    with (
        caplog.at_level(logging.WARNING, logger="lms.accounts.events"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        user_notify_on_commit(user_id=trainee.pk, data={"text": "graded"})
    assert len(callbacks) == 1
    assert any("not sent" in r.getMessage() for r in caplog.records)
