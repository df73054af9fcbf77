"""The adversarial corpus (tests/corpus): every cheat rejected, every honest proof accepted.

Static rules fire before Lean; Lean-side rules are driven by the fake REPL answering with the real
shapes (`#print axioms` naming sorryAx, a custom axiom, Lean.ofReduceBool; a differing pp.all type).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts
from bridge.verify.screen import rule_ids, screen

CORPUS = Path(__file__).parent / "corpus"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


CHEATS = load("cheats.jsonl")
HONEST = load("honest.jsonl")


def candidate(case: dict, with_fake: bool = True):
    proof = case["proof"] + (f"\n  -- {case['fake']}" if with_fake and case.get("fake") else "")
    return from_parts(case["id"], case["header"], case["formal_statement"], proof, helpers=case.get("helpers", ""))


def test_corpus_size_and_coverage() -> None:
    assert len({c["id"] for c in CHEATS}) >= 40 and len({c["id"] for c in HONEST}) >= 20
    fired = {c["rule"] for c in CHEATS}
    static = set(rule_ids())
    assert static <= fired, f"static rules with no cheat: {static - fired}"
    assert {"sorry", "axioms", "statement", "search_tactic"} <= fired  # the Lean-side rules


@pytest.mark.parametrize("case", [c for c in CHEATS if c["rule"] in rule_ids()
                                  and not c.get("fake")], ids=lambda c: c["id"])
def test_static_cheat_is_screened_by_its_rule(case: dict) -> None:
    hit = screen(candidate(case, with_fake=False))
    assert hit is not None, case["note"]
    assert hit.rule == case["rule"], (hit.rule, hit.excerpt)


@pytest.mark.parametrize("case", HONEST, ids=lambda c: c["id"])
def test_honest_proof_passes_the_screen(case: dict) -> None:
    assert screen(candidate(case)) is None


def test_whole_corpus_through_the_gate(fake_cfg) -> None:
    """Zero false accepts, zero false rejects, through the real pipeline with the fake REPL."""
    cases = CHEATS + HONEST
    with Verifier(fake_cfg(workers=2)) as v:
        got = {x.id: x for x in v.verify(candidate(c) for c in cases)}
    false_accepts = [c["id"] for c in CHEATS if got[c["id"]].verdict == "proved"]
    false_rejects = [(c["id"], got[c["id"]].verdict, got[c["id"]].reason) for c in HONEST
                     if got[c["id"]].verdict != "proved"]
    assert not false_accepts and not false_rejects, (false_accepts, false_rejects)
    for c in CHEATS:
        if c["rule"] != "lean":
            assert got[c["id"]].rule == c["rule"], (c["id"], got[c["id"]].rule, got[c["id"]].reason)


def test_native_decide_allowed_by_the_flag(fake_cfg) -> None:
    import dataclasses

    case = next(c for c in CHEATS if c["id"] == "cheat_native_axiom")
    cfg = dataclasses.replace(fake_cfg(), allow_native_decide=True)
    with Verifier(cfg) as v:
        [got] = list(v.verify([candidate(case)]))
    assert got.verdict == "proved"
    nd = next(c for c in CHEATS if c["id"] == "cheat_native_decide")
    assert screen(candidate(nd), options=frozenset({"allow_native_decide"})) is None


def test_model_restated_statement_is_put_back() -> None:
    from bridge.verify.candidate import with_reference_statement

    ref = "theorem corpus_linear (x : ℕ) (h₀ : x + 3 = 5) : x = 2 := by\n"
    weakened = "import Mathlib\n\ntheorem corpus_linear (x : ℕ) (h₀ : x + 3 = 5) : True := by\n  trivial"
    c = with_reference_statement("w", "import Mathlib\n", ref, weakened)
    assert c.body.startswith("theorem corpus_linear (x : ℕ) (h₀ : x + 3 = 5) : x = 2 :=")
    assert c.body.endswith(" by\n  trivial") and c.helpers == ""
