"""Health endpoints for load balancers and orchestrators."""

import pytest


def test_healthz_answers_ok(client):
    """/healthz answers 200 {"status": "ok"}, uncached, without touching the DB."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_checks_database_and_broker(client):
    """/readyz reports each dependency; with the suite's Redis all are ok."""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_broker(client, settings, tmp_path):
    """With the broker gone /readyz answers 503 and names the failing check."""
    settings.REDIS_URL = f"unix://{tmp_path / 'no-redis-here.sock'}"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")
