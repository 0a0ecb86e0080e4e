"""Serve a WSGI app on loopback in a background thread (threaded, optionally over TLS)."""

from __future__ import annotations

import ssl
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    # One line per request on stderr would drown test and demo output; the sandboxes log what matters.
    def log_request(self, code="-", size="-") -> None:  # noqa: D401
        pass


class ServerThread:
    """A started HTTP(S) server; ``url`` is its base URL, ``stop()`` shuts it down cleanly."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        public_host: str = "localhost",
    ) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, ssl_context=ssl_context, request_handler=_QuietHandler
        )
        self._server.daemon_threads = True
        self.port = self._server.server_port
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://{public_host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
