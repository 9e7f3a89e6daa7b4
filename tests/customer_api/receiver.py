"""A local HTTP receiver for webhook tests: records every POST, answers a scripted status."""
from __future__ import annotations

import socket
import ssl
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers in order; then 200
        self.url = ""
        self.port = 0


@contextmanager
def receiver(host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
    """A receiver on ``host``:``port`` (0: any free port), over TLS with ``tls``."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server_class = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address
        server_class = type("IPv6Server", (ThreadingHTTPServer,),
                            {"address_family": socket.AF_INET6})
    server = server_class((host, port), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.port = server.server_port
    shown = f"[{host}]" if ":" in host else host
    state.url = f"{'https' if tls else 'http'}://{shown}:{server.server_port}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
