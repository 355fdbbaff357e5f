"""The hub's proxy: configurable-http-proxy (Python port) with websocket subprotocols.

The Python port answers a websocket upgrade without the subprotocol its backend
chose, and browsers then refuse the socket ("Sent non-empty Sec-WebSocket-Protocol
header but no response was received"): JupyterLab's kernel connections ask for
``v1.kernel.websocket.jupyter.org``. This passes on the backend's choice. It is run
as ``python -m labs.proxy`` with the same arguments as ``configurable-http-proxy``.
"""

from configurable_http_proxy.handlers import ProxyHandler


def _select_subprotocol(self: ProxyHandler, subprotocols: list[str]) -> str | None:
    client = getattr(self, "ws_client", None)
    chosen = getattr(client, "selected_subprotocol", None) if client else None
    return chosen if chosen in subprotocols else None


ProxyHandler.select_subprotocol = _select_subprotocol  # type: ignore[method-assign]


if __name__ == "__main__":
    from configurable_http_proxy.cli import main

    main()
