"""An OpenAI-compatible stand-in model server for the formalize and synth tests: ``/completions`` and
``/chat/completions``, each choice answered by ``respond(prompt_text, choice_index)``, deterministically
(the same prompt gets the same answers, so a resumed run sees what the killed one saw). ``respond`` gets
the request's ``seed`` too, so a stand-in can tell a request for more samples from the first one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.json_server import JsonServer


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
        self._http = JsonServer(self._post)
        self.url = self._http.start()
        return self

    def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        chat = path.endswith("/chat/completions")
        prompt = ("\n\n".join(m["content"] for m in body["messages"]) if chat else body["prompt"])
        self.requests.append(Asked(path, prompt, body["n"], body["model"], body))
        texts = [self.respond(prompt, i, int(body.get("seed") or 0)) for i in range(body["n"])]
        choices = [{"index": i, "message": {"role": "assistant", "content": t}} if chat else {"index": i, "text": t}
                   for i, t in enumerate(texts)]
        return {"choices": choices, "model": self.served or body["model"]}, None

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def asked(self, needle: str) -> int:
        """Choices asked for by requests whose prompt contains ``needle``."""
        return sum(r.n for r in self.requests if needle in r.prompt)
