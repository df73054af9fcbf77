"""A stand-in OpenAI-compatible server with planned answers for the `bridge solve` tests, small JSONL
fixtures, and the helpers those tests share; the one test here checks the stand-in."""

from __future__ import annotations

import argparse
import json
import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.json_server import JsonServer

_TAG = re.compile(r"\[(P\d+)\]")


@dataclass
class Asked:
    prompt: str
    n: int
    seed: int | None


@dataclass
class PlannedEndpoint:
    """Answers ``/completions``: choice i of a request gets ``answer(prompt, i)``. Problems carry a tag
    such as ``[P1]`` that ``tag(prompt)`` finds, so plans can be tables."""

    answer: Callable[[str, int], str] = lambda prompt, i: "\\boxed{0}"
    served: str | None = None
    asked: list[Asked] = field(default_factory=list)

    def __enter__(self) -> PlannedEndpoint:
        self._http = JsonServer(self._post)
        self.url = self._http.start()
        return self

    def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], None]:
        self.asked.append(Asked(body.get("prompt", ""), body["n"], body.get("seed")))
        out: dict[str, Any] = {"choices": [{"index": i, "text": self.answer(body.get("prompt", ""), i)}
                                           for i in range(body["n"])]}
        if self.served:
            out["model"] = self.served
        return out, None

    def __exit__(self, *exc: object) -> None:
        self._http.stop()


def tag(prompt: str) -> str:
    m = _TAG.search(prompt)
    return m.group(1) if m else ""


def table(plan: dict[str, list[str]]) -> Callable[[str, int], str]:
    """A plan: the problem tag -> one planned solution per sample index."""
    return lambda prompt, i: plan[tag(prompt)][i]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


PROBLEMS = [
    {"id": "p1", "problem": "[P1] What is one half as a fraction?", "answer": "\\frac{1}{2}", "level": 1},
    {"id": "p2", "problem": "[P2] Solve 2x = 6.", "answer": "3", "level": "Level 4"},
    {"id": "p3", "problem": "[P3] Which interval is x in?", "answer": "(0, 1]", "band": "advanced"},
]


def solve_args(url: str, data: Path, run_dir: Path, *extra: str, samples: int = 4) -> argparse.Namespace:
    """Parsed ``bridge solve`` flags against the stand-in endpoint (one grading worker)."""
    from bridge.cli import solve

    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    solve.add_parser(sub)
    return p.parse_args(["solve", str(data), "--model", "m", "--endpoint", url, "--samples", str(samples),
                         "--run-dir", str(run_dir), "--grade-workers", "1", *extra])


def test_planned_endpoint_answers_per_choice() -> None:
    with PlannedEndpoint(table({"P1": ["a", "b"]}), served="real/m") as ep:
        req = urllib.request.Request(ep.url + "/completions", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": "m", "n": 2, "prompt": "x [P1] y"}).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.loads(r.read())
    assert [c["text"] for c in out["choices"]] == ["a", "b"] and out["model"] == "real/m" and ep.asked[0].n == 2
