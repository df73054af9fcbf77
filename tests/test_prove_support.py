"""A configurable OpenAI-compatible stand-in server for the `bridge prove` tests (completion mode, the
deepseek-v1.5 template), and the helpers those tests share; the one test here checks the stand-in."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from tests.fakes.json_server import JsonServer

_NAME = re.compile(r"theorem\s+(\S+)")


@dataclass
class Request:
    at: float  # time.time() when the request arrived
    answered: float | None  # when its answer was written
    name: str  # the theorem the prompt asks for
    n: int
    model: str
    seed: int | None


@dataclass
class FakeEndpoint:
    """Answers ``/completions`` with ``proof(theorem name, choice index)`` per choice, after ``delay``
    seconds; ``served`` goes in the answer's ``model`` field (what a real server reports)."""

    proof: Callable[[str, int], str] = lambda name, i: "simp"
    delay: float = 0.0
    served: str | None = None
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> FakeEndpoint:
        self._http = JsonServer(self._post)
        self.url = self._http.start()
        return self

    def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None]]:
        names = _NAME.findall(body.get("prompt", ""))
        req = Request(time.time(), None, names[-1] if names else "", body["n"], body["model"], body.get("seed"))
        self.requests.append(req)
        time.sleep(self.delay)
        k = len(self.requests)  # in the comment: no two answers are the same text (no dedupe)
        choices = [{"index": i, "text": f"  {self.proof(req.name, i)} -- r{k} {i}\n```"} for i in range(body["n"])]
        out: dict[str, Any] = {"choices": choices}
        if self.served:
            out["model"] = self.served

        def sent() -> None:
            req.answered = time.time()

        return out, sent

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def asked(self) -> int:
        """Samples asked for so far."""
        return sum(r.n for r in self.requests)


def prove_args(url: str, run_dir: Path, *extra: str, limit: int = 3, samples: int = 4,
               repl: str | None = None) -> list[str]:
    """``bridge prove demo`` against the stand-in endpoint and the fake REPL (one worker, no cache)."""
    from tests.conftest import fake_repl_cmd

    return ["prove", "demo", "--limit", str(limit), "--samples", str(samples), "--endpoint", url, "--model", "m",
            "--template", "deepseek-v1.5", "--run-dir", str(run_dir), "--repl-cmd", repl or fake_repl_cmd(),
            "--no-cache", "--workers", "1", *extra]


def bridge(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=e)


def rows(run_dir: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_fake_endpoint_answers_per_choice() -> None:
    with FakeEndpoint(proof=lambda name, i: f"{name}-{i}", served="real/model") as ep:
        req = urllib.request.Request(ep.url + "/completions", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": "m", "n": 2, "prompt": "theorem foo : True := by\n"}).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.loads(r.read())
    assert [c["text"] for c in out["choices"]] == ["  foo-0 -- r1 0\n```", "  foo-1 -- r1 1\n```"]
    assert out["model"] == "real/model" and ep.asked() == 2 and ep.requests[0].name == "foo"
