"""The HTTP side shared by the OpenAI-compatible stand-in servers of the tests: a local threaded server
whose every POST is answered by ``handle(path, body)`` as JSON. ``handle`` returns the answer and, when
the stand-in wants to know, a callable run once the answer was written (not when the client had gone).
A stand-in that needs the request's headers, a status code or a non-JSON body (the Hub's ndjson commit)
gives ``raw(path, headers, body_bytes) -> (status, answer)`` instead."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

Handle = Callable[[str, dict[str, Any]], tuple[dict[str, Any], Callable[[], None] | None]]
RawHandle = Callable[[str, dict[str, str], bytes], tuple[int, dict[str, Any]]]


class JsonServer:
    def __init__(self, handle: Handle | None = None, raw: RawHandle | None = None):
        self.handle = handle
        self.raw = raw
        self.server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Serve in a daemon thread; the base URL (``http://127.0.0.1:PORT/v1``)."""
        handle, raw = self.handle, self.raw

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data_in = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, sent = 200, None
                if raw is not None:
                    status, out = raw(self.path, dict(self.headers.items()), data_in)
                else:
                    assert handle is not None
                    out, sent = handle(self.path, json.loads(data_in))
                data = json.dumps(out).encode()
                try:
                    self.send_response(status)
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
