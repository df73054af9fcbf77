"""Sampling inside the loop through an OpenAI-compatible endpoint that serves the adapter: bridge asks
the server to load each round's adapter (vLLM's runtime LoRA API), then samples under its name."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from bridge.errors import BridgeError
from bridge.train.sampling import LazyBackend, SamplingConfig, adapter_name, sampling_backend
from provers.backends.base import SamplingParams


class Server:
    def __init__(self, refuse: bool = False):
        self.seen: list[tuple[str, dict]] = []
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                me.seen.append((self.path, body))
                if self.path.endswith("/load_lora_adapter"):
                    code, data = (404, b"Not Found") if refuse else (200, b"Success: LoRA adapter loaded")
                else:
                    code = 200
                    data = json.dumps({"model": body["model"], "choices": [
                        {"index": i, "text": "  simp\n```"} for i in range(body["n"])]}).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_endpoint_loads_the_rounds_adapter_and_samples_under_its_name(tmp_path: Path) -> None:
    server = Server()
    try:
        run_dir, adapter = tmp_path / "run", tmp_path / "run" / "round-1" / "adapter"
        cfg = SamplingConfig(backend="endpoint", endpoint=server.url, served_model="base-on-server")
        be = sampling_backend(cfg, "org/base", adapter, run_dir)
        assert be.generate("theorem t : True := by\n", 2, SamplingParams()) == ["  simp\n```"] * 2
        name = adapter_name(run_dir, adapter)
        assert name == "bridge-run-round-1"
        assert server.seen[0] == ("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(adapter.resolve())})
        assert server.seen[1][0] == "/v1/completions" and server.seen[1][1]["model"] == name
        # round 1 (no adapter yet): the base model as the server names it, nothing loaded
        sampling_backend(cfg, "org/base", None, run_dir).generate("p", 1, SamplingParams())
        assert server.seen[-1][1]["model"] == "base-on-server" and len(server.seen) == 3
        # --endpoint-lora none: the server as it is
        off = SamplingConfig(backend="endpoint", endpoint=server.url, endpoint_lora="none")
        sampling_backend(off, "org/base", adapter, run_dir).generate("p", 1, SamplingParams())
        assert server.seen[-1][1]["model"] == "org/base" and len(server.seen) == 4
    finally:
        server.close()


def test_a_server_that_cannot_load_adapters_says_what_to_do(tmp_path: Path) -> None:
    server = Server(refuse=True)
    try:
        cfg = SamplingConfig(backend="endpoint", endpoint=server.url)
        with pytest.raises(BridgeError, match="HTTP 404") as e:
            sampling_backend(cfg, "m", tmp_path / "round-2" / "adapter", tmp_path)
        assert "--enable-lora" in str(e.value) and "--endpoint-lora none" in str(e.value)
    finally:
        server.close()


def test_lazy_backend_loads_nothing_until_asked() -> None:
    made: list[int] = []

    class Fake:
        name = "fake"

        def generate(self, prompt: object, n: int, params: SamplingParams) -> list[str]:
            return ["x"] * n

    lazy = LazyBackend(lambda: made.append(1) or Fake())
    assert not lazy.loaded and not made
    assert lazy.generate("p", 2, SamplingParams()) == ["x", "x"] and made == [1] and lazy.name == "fake"
    lazy.generate("p", 1, SamplingParams())
    assert made == [1]
