"""The hub's proxy: configurable-http-proxy (Python port) with websocket subprotocols.

Two fixes to the Python port (0.4.0), both needed for JupyterLab's kernel sockets,
which ask for the ``v1.kernel.websocket.jupyter.org`` subprotocol:

- it answers a websocket upgrade without the subprotocol its backend chose, and
  browsers then refuse the socket ("Sent non-empty Sec-WebSocket-Protocol header but
  no response was received"): this passes on the backend's choice;
- it forwards the browser's binary frames as text, which the v1 protocol cannot
  decode: this keeps them binary.

And one setting: the port forwards every request with tornado's shared
``AsyncHTTPClient``, whose default ``max_clients`` is 10. With a class starting its
labs, ten requests in flight (servers being polled, contents placed) queue every
other one, the hub's API included, until they time out. ``main(max_clients=...)``
raises the limit before the first client exists (``HUB_PROXY_MAX_CLIENTS``).

It is run as ``python -m labs.proxy`` with ``configurable-http-proxy``'s arguments
(``labs/jupyterhub_config.py`` calls ``main`` with the setting).
"""

from configurable_http_proxy.handlers import ProxyHandler
from tornado.httpclient import AsyncHTTPClient

DEFAULT_MAX_CLIENTS = 512


def _select_subprotocol(self: ProxyHandler, subprotocols: list[str]) -> str | None:
    client = getattr(self, "ws_client", None)
    chosen = getattr(client, "selected_subprotocol", None) if client else None
    return chosen if chosen in subprotocols else None


def _on_message(self: ProxyHandler, message: str | bytes) -> None:
    # Upstream forwards every browser frame as text; kernel protocol v1 frames are
    # binary and must stay binary.
    if self.ws_client:
        prefix = self.target["prefix"] if self.target else ""
        if prefix:
            self.proxy.update_last_activity(prefix)
        self.ws_client.write_message(message, binary=isinstance(message, bytes))


ProxyHandler.select_subprotocol = _select_subprotocol  # type: ignore[method-assign]
ProxyHandler.on_message = _on_message  # type: ignore[method-assign]


def main(*, max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
    """Run the proxy (arguments from ``sys.argv``) with ``max_clients`` upstream
    requests at once."""
    from configurable_http_proxy import cli

    AsyncHTTPClient.configure(None, max_clients=max_clients)
    cli.main()


if __name__ == "__main__":
    main()
