"""Container health check: GET a URL on this container, exit 0 on a 200 answer.

    python deploy/healthcheck.py http://127.0.0.1:8000/healthz

Used by compose.yaml (and the image's HEALTHCHECK). In production the site answers a
plain-HTTP request for an unknown host with 400 (ALLOWED_HOSTS) or a redirect to
HTTPS (SECURE_SSL_REDIRECT), so the request carries the first of ALLOWED_HOSTS as
its Host and ``X-Forwarded-Proto: https``, as the TLS proxy in front would.
"""

import os
import sys
import urllib.request


def host_header() -> str:
    first = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip()
    if first in ("", "*"):
        return "localhost"
    return first.lstrip(".")  # ".example.org" allows example.org itself


def main(url: str) -> int:
    if not url.startswith("http://127.0.0.1:"):
        return f"refusing to check {url}: only this container is checked"
    request = urllib.request.Request(  # noqa: S310 - a fixed local http URL
        url, headers={"Host": host_header(), "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if response.status == 200 else f"{url}: {response.status}"
    except Exception as error:  # noqa: BLE001 - any failure is "unhealthy"
        return f"{url}: {error}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
