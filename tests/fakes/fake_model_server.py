"""An OpenAI-compatible stand-in model server for the formalize and synth tests: ``/completions`` and
``/chat/completions``, each choice answered by ``respond(prompt_text, choice_index)``, deterministically
(the same prompt gets the same answers, so a resumed run sees what the killed one saw). ``respond`` gets
the request's ``seed`` too, so a stand-in can tell a request for more samples from the first one."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Asked:
    path: str
    prompt: str  # completion text, or the chat messages' contents joined
    n: int
    model: str
    body: dict[str, Any]


@dataclass
class FakeModelServer:
    respond: Callable[[str, int, int], str]  # (prompt text, choice index, the request's seed)
    served: str | None = None
    requests: list[Asked] = field(default_factory=list)

    def __enter__(self) -> FakeModelServer:
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat = self.path.endswith("/chat/completions")
                prompt = ("\n\n".join(m["content"] for m in body["messages"]) if chat else body["prompt"])
                me.requests.append(Asked(self.path, prompt, body["n"], body["model"], body))
                texts = [me.respond(prompt, i, int(body.get("seed") or 0)) for i in range(body["n"])]
                choices = [{"index": i, "message": {"role": "assistant", "content": t}} if chat else {"index": i, "text": t}
                           for i, t in enumerate(texts)]
                out: dict[str, Any] = {"choices": choices, "model": me.served or body["model"]}
                data = json.dumps(out).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client went away (a killed run)
                    pass

            def log_message(self, *a: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def asked(self, needle: str) -> int:
        """Choices asked for by requests whose prompt contains ``needle``."""
        return sum(r.n for r in self.requests if needle in r.prompt)
