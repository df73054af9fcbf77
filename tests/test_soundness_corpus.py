"""The adversarial corpus (tests/corpus): every cheat rejected, every honest proof accepted, in every
input form.

Static rules fire before Lean; Lean-side rules are driven by the fake REPL answering with the real
shapes (`#print axioms` naming sorryAx, a custom axiom, Lean.ofReduceBool; a differing pp.all type).

Each case is one model answer: ``model_header`` (header lines the model wrote itself), ``helpers``,
the statement and the proof. It is checked as each input form would carry it (:func:`forms`):
``parts`` (a `{header, formal_statement, proof}` row: the model's header lines, having nowhere else to
go, lead its helpers), ``code_header`` (a `code` row with `header`, whose code repeats the header),
``code`` (a `code` row without one), ``lean`` (a `.lean` file), ``stdin`` (Lean text on standard input)
and ``chat`` (a chat completion's last code block, the reference statement put back). A case lists its
``forms`` when not all apply: a weakened statement or a modifier left before the reference statement
cheats only where there is a reference statement (parts, chat); an honest answer with header lines
of its own has no parts form.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from bridge.data.problem import Problem
from bridge.verify.api import Verifier
from bridge.verify.candidate import Candidate, from_parts
from bridge.verify.inputs import candidate_from_row, lean_candidates, read_candidates
from bridge.verify.screen import rule_ids, screen
from provers.templates import FAMILIES, extract

CORPUS = Path(__file__).parent / "corpus"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


CHEATS = load("cheats.jsonl")
HONEST = load("honest.jsonl")


FORMS = ("parts", "code_header", "code", "lean", "stdin", "chat")


def candidate(case: dict, with_fake: bool = True):
    """The case as a parts row (or, for one that has none, as its first form)."""
    if "parts" not in case.get("forms", FORMS):
        c = next(iter(forms(case).values()))
        c.id = case["id"]
        return c
    proof = case["proof"] + (f"\n  -- {case['fake']}" if with_fake and case.get("fake") else "")
    helpers = case.get("model_header", "") + case.get("helpers", "")
    return from_parts(case["id"], case["header"], case["formal_statement"], proof, helpers=helpers)


def _stdin(text: str, name: str) -> Candidate:
    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(text.encode("utf-8")))
    try:
        [c] = list(read_candidates("-"))
    finally:
        sys.stdin = old
    c.id = name
    return c


def forms(case: dict) -> dict[str, Candidate]:
    """The case as every input form it applies to carries it (ids: ``ID@FORM``)."""
    proof = case["proof"] + (f"\n  -- {case['fake']}" if case.get("fake") else "")
    model = case.get("model_header", "") + case.get("helpers", "") + case["formal_statement"] + proof
    whole = case["header"] + model  # a whole file as a prover writes it: the header repeated
    out: dict[str, Candidate] = {}
    for form in case.get("forms", FORMS):
        cid = f"{case['id']}@{form}"
        if form == "parts":
            c = candidate(case)
            c.id = cid
        elif form == "code_header":
            c = candidate_from_row({"id": cid, "header": case["header"], "code": whole}, "<corpus>", 1)
        elif form == "code":
            c = candidate_from_row({"id": cid, "code": whole}, "<corpus>", 1)
        elif form == "lean":
            [c] = lean_candidates(whole, cid)
        elif form == "stdin":
            c = _stdin(whole, cid)
        else:
            problem = Problem(id=case["id"], split="test", header=case["header"],
                              formal_statement=case["formal_statement"])
            c = extract(FAMILIES["goedel-v2"], problem, f"Here is the proof.\n```lean4\n{whole}\n```\n", cid)
        out[form] = c
    return out


def test_corpus_size_and_coverage() -> None:
    assert len({c["id"] for c in CHEATS}) >= 40 and len({c["id"] for c in HONEST}) >= 20
    fired = {c["rule"] for c in CHEATS} | {c["header_rule"] for c in CHEATS if c.get("header_rule")}
    static = set(rule_ids())
    assert static <= fired, f"static rules with no cheat: {static - fired}"
    assert {"sorry", "axioms", "statement", "search_tactic"} <= fired  # the Lean-side rules


@pytest.mark.parametrize("case", [c for c in CHEATS if c["rule"] in rule_ids()
                                  and not c.get("fake")], ids=lambda c: c["id"])
def test_static_cheat_is_screened_by_its_rule(case: dict) -> None:
    for form, c in forms(case).items():
        hit = screen(c)
        assert hit is not None, (form, case["note"])
        if form == "parts":
            assert hit.rule == case["rule"], (hit.rule, hit.excerpt)
        elif case.get("model_header"):
            assert hit.rule == case["header_rule"], (form, hit.rule, hit.excerpt)


@pytest.mark.parametrize("case", HONEST, ids=lambda c: c["id"])
def test_honest_proof_passes_the_screen(case: dict) -> None:
    for form, c in forms(case).items():
        assert screen(c) is None, form


@pytest.mark.parametrize("pinned", ["0", "1"], ids=["flushing-repl", "pinned-v4.9.0-repl"])
def test_whole_corpus_through_the_gate(fake_cfg, pinned: str) -> None:
    """Zero false accepts, zero false rejects, in every input form, through the real pipeline with the
    fake REPL (as later REPLs answer, and as REPL v4.9.0 does: FAKE_REPL_PINNED=1)."""
    cands = {f"{c['id']}@{form}": (c, form, x) for c in CHEATS + HONEST for form, x in forms(c).items()}
    with Verifier(fake_cfg(workers=2, FAKE_REPL_PINNED=pinned)) as v:
        got = {x.id: x for x in v.verify(x for _, _, x in cands.values())}
    assert set(got) == set(cands)
    false_accepts = [k for k, (c, _, _) in cands.items() if c in CHEATS and got[k].verdict == "proved"]
    false_rejects = [(k, got[k].verdict, got[k].reason) for k, (c, _, _) in cands.items()
                     if c in HONEST and got[k].verdict != "proved"]
    assert not false_accepts and not false_rejects, (false_accepts, false_rejects)
    for k, (c, form, _) in cands.items():
        if c in HONEST or c["rule"] == "lean":
            continue
        want = c.get("header_rule", c["rule"]) if form != "parts" and c.get("model_header") else c["rule"]
        if form == "parts" or c.get("model_header"):  # elsewhere another rule may come first
            assert got[k].rule == want, (k, got[k].rule, got[k].reason)


def test_every_case_has_every_form_it_can_have() -> None:
    """Only cases that need a reference statement (or honest ones with a header of their own) skip forms."""
    for c in CHEATS + HONEST:
        skipped = set(FORMS) - set(c.get("forms", FORMS))
        # (`import Mathlib.Tactic`, `open Nat` after the header are cheats in a parts row's helpers only:
        # at the top of a file they are header lines the header allow-list lets through)
        assert not skipped or (c in CHEATS and c["rule"] in ("statement", "scope", "import", "open")) or (
            c in HONEST and c.get("model_header") and skipped == {"parts"}), c["id"]


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
