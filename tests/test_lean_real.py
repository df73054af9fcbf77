"""Against a real Lake project with Mathlib and the REPL (run where one is found; skipped elsewhere).

Set BRIDGE_LEAN_PROJECT to a built project, or run `bridge setup` in this repository first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts
from tests.conftest import real_lean_project

pytestmark = pytest.mark.lean

CORPUS = Path(__file__).parent / "corpus"


def cfg(tmp_path: Path):
    return load_config(overrides={"lean_project": real_lean_project(), "cache_dir": tmp_path, "use_cache": False,
                                  "workers": 2, "timeout": 300})


def test_demo_proofs_are_proved(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (Path(__file__).parents[1] / "datasets" / "demo.jsonl").read_text().splitlines()]
    cands = [from_parts(r["name"], r["header"], r["formal_statement"], r["proof"]) for r in rows]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x for x in v.verify(cands)}
    assert all(x.verdict == "proved" and x.gate == "full" for x in got.values()), \
        {k: x.reason for k, x in got.items() if x.verdict != "proved"}


def test_real_lean_verdicts(tmp_path: Path) -> None:
    h = "import Init\n"
    s = "theorem real_t (n : Nat) : n + 0 = n := by\n"
    cands = [from_parts("ok", h, s, "  simp"), from_parts("sorry", h, s, "  stop\n  simp"),
             from_parts("err", h, s, "  exact foo_bar_baz"), from_parts("unsolved", h, s, "  skip")]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x.verdict for x in v.verify(cands)}
    assert got == {"ok": "proved", "sorry": "incomplete", "err": "failed", "unsolved": "incomplete"}


def test_adversarial_corpus_on_real_lean(tmp_path: Path) -> None:
    cases = []
    for f in ("cheats.jsonl", "honest.jsonl"):
        cases += [json.loads(x) for x in (CORPUS / f).read_text().splitlines() if x.strip()]
    cases = [c for c in cases if c.get("lean", True)]
    cands = [from_parts(c["id"], c["header"], c["formal_statement"], c["proof"], helpers=c.get("helpers", ""))
             for c in cases]
    with Verifier(cfg(tmp_path)) as v:
        got = {x.id: x for x in v.verify(cands)}
    false_accepts = [c["id"] for c in cases if c["expect"] == "rejected" and got[c["id"]].verdict == "proved"]
    false_rejects = [(c["id"], got[c["id"]].reason) for c in cases
                     if c["expect"] == "proved" and got[c["id"]].verdict != "proved"]
    assert not false_accepts and not false_rejects
