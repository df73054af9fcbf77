"""The HTTP side shared by the OpenAI-compatible stand-in servers of the tests: a local threaded server
whose every POST is answered by ``handle(path, body)`` as JSON. ``handle`` returns the answer and, when
the stand-in wants to know, a callable run once the answer was written (not when the client had gone)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

Handle = Callable[[str, dict[str, Any]], tuple[dict[str, Any], Callable[[], None] | None]]


class JsonServer:
    def __init__(self, handle: Handle):
        self.handle = handle
        self.server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve in a daemon thread; the base URL (``http://127.0.0.1:PORT/v1``)."""
        handle = self.handle

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                out, sent = handle(self.path, body)
                data = json.dumps(out).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client went away (a killed or stopped run)
                    return
                if sent is not None:
                    sent()

            def log_message(self, *a: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
