"""Any OpenAI-compatible server (vLLM, SGLang, an API model): ``/completions`` or ``/chat/completions``.

Standard library only, so ``bridge prove --endpoint URL --model NAME`` runs from the core install.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from bridge.errors import BridgeError
from provers.backends.base import Prompt, SamplingParams


class EndpointBackend:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 3600, retries: int = 3):
        self.base = base_url.rstrip("/")
        self.model = model
        self.name = f"endpoint:{self.base}"
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or os.environ.get("BRIDGE_API_KEY")
        self.timeout = timeout
        self.retries = retries
        self.served_model: str | None = None  # the answer's `model` field: what the server really runs

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries):
            req = urllib.request.Request(self.base + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:  # noqa: S310 - user's endpoint
                    return json.loads(r.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", errors="replace")[:300]
                if e.code < 500:
                    raise BridgeError(f"{self.base + path} answered HTTP {e.code}: {detail}",
                                      "check --endpoint (a base URL such as http://host:8000/v1) and --model") from None
                last = e
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = e
            time.sleep(min(30, 2 ** attempt))
        raise BridgeError(f"the endpoint {self.base} did not answer after {self.retries} tries: {last}",
                          "check the server is up and --endpoint points at it")

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        common = {"model": self.model, "n": n, "temperature": params.temperature, "top_p": params.top_p,
                  "max_tokens": params.max_tokens, "seed": params.seed}
        if isinstance(prompt, str):
            out = self._post("/completions", {**common, "prompt": prompt})
            texts = [c.get("text", "") for c in sorted(out.get("choices", []), key=lambda c: c.get("index", 0))]
        else:
            out = self._post("/chat/completions", {**common, "messages": prompt})
            texts = [(c.get("message") or {}).get("content") or ""
                     for c in sorted(out.get("choices", []), key=lambda c: c.get("index", 0))]
        if isinstance(out.get("model"), str) and out["model"]:
            self.served_model = out["model"]
        if len(texts) != n:
            raise BridgeError(f"the endpoint returned {len(texts)} completions, {n} were asked for",
                              "the server may not support n > 1; use a vLLM or SGLang server")
        return texts
