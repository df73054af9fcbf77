"""A run directory for the lab tests, made the way a user makes one: `bridge prove` on a JSONL of demo
problems (three bands by their MATH-level tags) against the stand-in endpoint and the stand-in REPL; and
a stand-in model server for the try-it tab (a formalizer answer on chat, a proof on completions)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT

PROBLEMS = ["demo_add_zero", "demo_two_add_two", "demo_succ_le", "demo_mul_comm", "demo_linear"]


def proof(name: str, i: int) -> str:
    if name == "demo_two_add_two":
        return "exact FAKE_ERROR"  # every sample fails with an error message
    return "simp" if i % 2 == 0 else "exact FAKE_UNSOLVED"


def make_lab_run(tmp: Path) -> Path:
    from tests.test_prove_support import FakeEndpoint, bridge

    rows = [json.loads(x) for x in (ROOT / "datasets" / "demo.jsonl").read_text(encoding="utf-8").splitlines()][:5]
    for i, r in enumerate(rows):
        r["tags"] = [f"Level {1 + 2 * (i % 3)}"]  # simple, intermediate, advanced, simple, intermediate
    data = tmp / "lab_demo.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    from tests.conftest import fake_repl_cmd

    rd = tmp / "run"
    with FakeEndpoint(proof=proof) as ep:
        r = bridge("prove", str(data), "--split", "test", "--samples", "4", "--endpoint", ep.url, "--model", "m",
                   "--template", "deepseek-v1.5", "--run-dir", str(rd), "--repl-cmd", fake_repl_cmd(), "--no-cache",
                   "--workers", "1", "--cache-dir", str(tmp / "cache"))
    assert r.returncode == 0, r.stderr
    return rd


def try_respond(prompt: str, i: int, seed: int) -> str:
    """The try-it tab's stand-in model: a formalization for the formalizer's (chat) prompt, else a proof."""
    if "Complete the following Lean 4 code" in prompt:
        return "  simp\n```" if i % 2 == 0 else "  exact FAKE_ERROR\n```"
    return "Here it is.\n```lean4\ntheorem even_sum (n : Nat) : n + 0 = n := by\n  sorry\n```"
