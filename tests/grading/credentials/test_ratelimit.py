"""Rate limits of the public verification endpoints: counted per client address in
the shared cache, 429 with Retry-After and a translated message, X-Forwarded-For
honoured only when TRUSTED_PROXY_COUNT says how many proxies to trust."""

import pytest
from django.test import RequestFactory

from grading.credentials.ratelimit import client_address, limit_parse


@pytest.fixture
def limit(settings):
    # A day's window: a fixed window that turns over mid-test would reset the count.
    settings.VERIFY_RATE_LIMIT = "3/d"
    settings.TRUSTED_PROXY_COUNT = 0
    return 3


def _endpoints(certificate):
    return [
        ("get", f"/verify/{certificate.pk}", {}),
        ("post", "/verify", {"data": {"reference": str(certificate.pk)}}),
        (
            "post",
            "/api/v1/verify",
            {"data": certificate.jwt, "content_type": "application/vc+jwt"},
        ),
        ("get", f"/credentials/{certificate.pk}", {}),
    ]


@pytest.mark.parametrize("endpoint", range(4))
def test_the_request_over_the_limit_is_429_with_retry_after(
    client, certificate, limit, endpoint
):
    method, url, kwargs = _endpoints(certificate)[endpoint]
    call = getattr(client, method)

    answers = [call(url, **kwargs).status_code for _ in range(limit)]
    over = call(url, HTTP_ACCEPT_LANGUAGE="zh-hans", **kwargs)

    assert 429 not in answers
    assert over.status_code == 429
    assert 1 <= int(over["Retry-After"]) <= 86400
    text = over.json()["detail"] if url.startswith(("/api", "/cred")) else over
    assert "验证请求过多" in (text if isinstance(text, str) else text.content.decode())


def test_the_endpoints_share_one_budget(client, certificate, limit):
    """Trying ids through another endpoint does not reset the count."""
    for method, url, kwargs in _endpoints(certificate)[:limit]:
        assert getattr(client, method)(url, **kwargs).status_code != 429

    response = client.get(f"/credentials/{certificate.pk}")

    assert response.status_code == 429
    assert response.json()["detail"].startswith("Too many verification requests")


def test_the_verify_form_page_itself_is_not_counted(db, client, limit):
    for _ in range(limit + 2):
        assert client.get("/verify").status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(client, certificate, limit):
    """Without TRUSTED_PROXY_COUNT a client cannot escape by writing the header."""
    for n in range(limit):
        client.get(f"/verify/{certificate.pk}", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")

    response = client.get(f"/verify/{certificate.pk}", HTTP_X_FORWARDED_FOR="10.9.9.9")

    assert response.status_code == 429


def test_forwarded_for_is_honoured_with_trusted_proxies(
    client, certificate, limit, settings
):
    """Behind one proxy, each forwarded client has its own budget; the entries a
    client wrote itself (left of the proxy's) do not count."""
    settings.TRUSTED_PROXY_COUNT = 1
    url = f"/verify/{certificate.pk}"
    for n in range(limit):
        forged = f"192.0.2.{n}, 203.0.113.7"
        assert client.get(url, HTTP_X_FORWARDED_FOR=forged).status_code == 200

    blocked = client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.7")
    other = client.get(url, HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert blocked.status_code == 429
    assert other.status_code == 200


@pytest.mark.parametrize(
    "hops, forwarded, expected",
    [
        (0, "198.51.100.1", "127.0.0.1"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (2, "198.51.100.1", "198.51.100.1"),
        (1, "not-an-ip", "not-an-ip"),
        (1, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ],
)
def test_client_address(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
    )

    assert client_address(request) == expected


def test_limit_parse():
    assert limit_parse("60/m").seconds == 60
    assert limit_parse("10/30s").seconds == 30
    assert limit_parse("1000/h").count == 1000
    assert limit_parse("0") is None and limit_parse("") is None
    with pytest.raises(ValueError):
        limit_parse("lots")
