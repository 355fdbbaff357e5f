"""The media storage full (issue 9): a submission is refused cleanly and nothing is
half written; once there is room, the same upload is accepted.

The platform's MEDIA_ROOT gets a 256 KiB tmpfs, filled to one page from full, for
the test; "nothing queued" is read off the platform's own Redis.
"""

import hashlib
import os
from pathlib import Path

import pytest

from tests.faults.conftest import (
    api_token,
    csrf_token,
    queue_length,
    queue_purge,
    sign_in,
    tmpfs,
    wait_for,
)
from tests.grading.helpers import RIGHT

pytestmark = pytest.mark.production

PAGE = 4096
USER = "storage"


def _fill(mount: Path, leave: int) -> Path:
    """Fill the tmpfs, then give back ``leave`` bytes."""
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * PAGE):
                pass
        except OSError:  # full
            pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _files(mount: Path) -> list[Path]:
    return [p for p in mount.rglob("*") if p.is_file() and p.name != "filler"]


def test_a_full_media_storage_refuses_the_submission_cleanly(platform):
    """With less room than the notebook needs, the API answers 507 and the page
    shows the reason on the upload field: no Submission row, no file (not even the
    part that fitted), no message queued, no attempt used. Once space is freed,
    the same upload is stored whole and queued, by the page and by the API."""
    # padded past two pages, so that a part of it fits in the one page left
    data = platform.notebook(RIGHT, padding=3 * PAGE)
    page_url = f"/en/grading/labs/{platform.lab}/submissions/"
    api_url = f"/api/v1/labs/{platform.lab}/submissions"
    queue_purge(platform.redis.url)
    with (
        platform.client() as client,
        tmpfs(platform.var_dir / "test-media", "256k") as media,
    ):
        assert sign_in(client, USER).status_code == 302
        bearer = {"Authorization": f"Bearer {api_token(client, USER)}"}

        def upload_page():
            return client.post(
                page_url,
                data={"csrfmiddlewaretoken": csrf_token(client, page_url)},
                files={"notebook": ("lab.ipynb", data)},
            )

        def upload_api():
            return client.post(
                api_url, files={"notebook": ("lab.ipynb", data)}, headers=bearer
            )

        filler = _fill(media, leave=PAGE)
        refused, page = upload_api(), upload_page()

        assert refused.status_code == 507, refused.text
        assert "storage is full" in refused.json()["detail"]
        assert page.status_code == 200
        assert "storage is full" in page.text and "no attempt was used" in page.text
        assert platform.submissions(USER) == []
        assert _files(media) == []
        assert queue_length(platform.redis.url) == 0
        assert "the media storage is full" in platform.web_log.read_text()

        filler.unlink()
        accepted, created = upload_page(), upload_api()

        assert accepted.status_code == 302, accepted.text
        assert created.status_code == 201, created.text
        stored = platform.submissions(USER)
        assert [(s["attempt"], s["status"]) for s in stored] == [
            (1, "queued"),
            (2, "queued"),
        ]
        files = _files(media)
        assert len(files) == 2
        digest = hashlib.sha256(data).hexdigest()
        assert {hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == {digest}
        wait_for(lambda: queue_length(platform.redis.url) == 2, "two messages", 10)
    queue_purge(platform.redis.url)  # no later test's worker grades these
