"""The funnel's stages: one record per (candidate, stage), and the small check each stage is. Pure: the
Lean stages build a candidate and read the verifier's verdict; the runner (``funnel.py``) does the I/O.

Order is cheapest first, and a candidate goes to a stage only when it passed every earlier one:

  extracted          pure   the answer holds one Lean theorem statement
  well_formed        pure   one named theorem ending in `:= by`, no `sorry` in it, passes the static screen
  unique             pure   no earlier candidate has the same statement up to names and whitespace
  uncontaminated     pure   it matches no evaluation-set statement (canonical form, or a near-duplicate)
  elaborates         Lean   it elaborates with `sorry` in the header (verdict `incomplete`, no error)
  consistent         Lean   the tactic budget cannot prove `False` from its hypotheses
  nontrivial         Lean   the budget cannot prove it outright
  negation_unproved  Lean   the budget cannot prove its negation
  back_translation   model  back-translated, k judges vote it says what the informal statement says

With ``formalize --prove N`` one more stage follows the funnel (it is not a filter: ``formalized.jsonl``
still holds every survivor): ``proved``, a prover's N whole proofs of the survivor checked by the gate,
passed when at least one is verified (``check_proved``).

Deduplication and decontamination are text-only, so they run before Lean (a duplicate would get its
original's verdicts anyway); every survivor is therefore distinct and clean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.data import decontam
from bridge.data.decontam import NGRAM, find_contamination
from bridge.data.problem import Problem
from bridge.data.validate import check_statement
from bridge.eval.report import error_kind
from bridge.verify.candidate import Candidate, from_code, from_parts
from bridge.verify.screen import screen
from bridge.verify.soundness import GateOptions
from bridge.verify.verdict import Verdict
from provers.formalize.prompts import Extracted, has_sorry
from provers.formalize.statement import Statement, balanced, parse_statement

STAGES = ("extracted", "well_formed", "unique", "uncontaminated", "elaborates", "consistent", "nontrivial",
          "negation_unproved", "back_translation")
PURE_STAGES = ("extracted", "well_formed", "unique", "uncontaminated")
LEAN_STAGES = ("elaborates", "consistent", "nontrivial", "negation_unproved")
DEFAULT_BUDGET = ("simp_all", "omega", "linarith", "nlinarith", "decide")
VOTE_RULES = ("unanimous", "majority")
PROVED = "proved"  # after the funnel, with --prove N


@dataclass(frozen=True)
class StageResult:
    """One stage's decision on one candidate: ``kind`` is a short label (the yield table groups by it),
    ``reason`` a sentence."""

    stage: str
    passed: bool
    kind: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "passed": self.passed, "kind": self.kind, "reason": self.reason,
                "data": self.data}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StageResult:
        return cls(d["stage"], bool(d["passed"]), d.get("kind", ""), d.get("reason", ""), d.get("data") or {})


@dataclass
class Formalization:
    """One candidate statement of one informal statement, with every stage result it has so far."""

    id: str  # the sample id: PROBLEM/0/INDEX
    problem_id: str
    idx: int
    answer: str  # the model's raw answer
    statement: str  # "" when none could be extracted
    header: str
    results: dict[str, StageResult] = field(default_factory=dict)

    def status(self, stages: tuple[str, ...]) -> str:
        """``survived``, the stage it failed, or ``pending:STAGE`` (the next stage not yet decided)."""
        for s in stages:
            r = self.results.get(s)
            if r is None:
                return f"pending:{s}"
            if not r.passed:
                return s
        return "survived"

    def due(self, stage: str, stages: tuple[str, ...]) -> bool:
        """Whether ``stage`` is the next undecided stage and every earlier one passed."""
        return self.status(stages) == f"pending:{stage}"


def ok(stage: str, kind: str, reason: str, **data: Any) -> StageResult:
    return StageResult(stage, True, kind, reason, data)


def no(stage: str, kind: str, reason: str, **data: Any) -> StageResult:
    return StageResult(stage, False, kind, reason, data)


# -- pure stages --------------------------------------------------------------------------------------


def check_extracted(ex: Extracted) -> StageResult:
    if ex.statement is None:
        return no("extracted", ex.reason, ex.reason)
    return ok("extracted", "statement", ex.reason, had_proof=ex.had_proof,
              other_declarations=list(ex.other_declarations))


def check_well_formed(statement: str, header: str, other_declarations: list[str] | tuple[str, ...] = ()) -> StageResult:
    """One named theorem ending in `:= by`, no `sorry`, brackets that pair, nothing the screen refuses."""
    s = "well_formed"
    if other_declarations:
        return no(s, "more than one declaration", "the answer declares more than the one theorem: "
                  + ", ".join(other_declarations))
    bad = check_statement(statement)
    if bad:
        return no(s, "not a statement", bad)
    if has_sorry(statement):
        return no(s, "sorry in the statement", "the statement itself contains `sorry`")
    if not balanced(statement):
        return no(s, "brackets", "the statement's brackets do not pair up")
    if parse_statement(statement) is None:
        return no(s, "unreadable", "the statement's binders and conclusion cannot be read")
    hit = screen(Candidate(id="screen", header=header, proof=statement), None, GateOptions().screen_options())
    if hit is not None:
        return no(s, f"screen: {hit.rule}", hit.reason(statement))
    return ok(s, "one theorem", "one named theorem ending in `:= by`")


def dedupe_key(statement: str) -> str:
    """Statements equal up to the theorem's name, binder and hypothesis names, whitespace, comments,
    redundant parentheses and the order of hypotheses (``decontam.canonical``)."""
    return decontam.dedupe_key(statement)


def check_unique(cid: str, statement: str, seen: dict[str, str]) -> StageResult:
    """Unique against ``seen`` (key -> the candidate that had it first); records itself when unique."""
    key = dedupe_key(statement)
    first = seen.get(key)
    if first is not None and first != cid:
        return no("unique", "duplicate", f"the same statement as {first} (up to names and whitespace)", duplicate_of=first)
    seen[key] = cid
    return ok("unique", "unique", "no earlier candidate states the same")


def check_uncontaminated(cid: str, statement: str, against: dict[str, list[Problem]], n: int = NGRAM) -> StageResult:
    probe = Problem(id=cid, split="", header="", formal_statement=statement)
    for name, ev in against.items():
        hits = find_contamination([probe], ev, n)
        if hits:
            return no("uncontaminated", f"contaminated: {name}",
                      f"matches {hits[0].eval_id} of {name} ({hits[0].reason})", against=name, against_id=hits[0].eval_id,
                      score=round(hits[0].score, 4))
    sets = ", ".join(against) or "no evaluation set"
    return ok("uncontaminated", "clean", f"matches nothing in {sets}")


# -- Lean stages --------------------------------------------------------------------------------------


def budget_tactic(budget: tuple[str, ...] | list[str]) -> str:
    """``first | (t1; done) | ...``: each alternative must close the goal (``simp_all`` can succeed and
    leave a goal, and ``first`` would then never try the next one)."""
    return "first | " + " | ".join(f"({t}; done)" for t in budget)


def negation_tactic(budget: tuple[str, ...] | list[str]) -> str:
    # a counterexample usually needs the negation pushed in first
    return f"{budget_tactic(budget)} | (push_neg; {budget_tactic(budget)})"


def lean_candidate(stage: str, cid: str, statement: str, header: str,
                   budget: tuple[str, ...] | list[str]) -> Candidate | StageResult:
    """The candidate a Lean stage checks, or the stage's result when no check is needed."""
    st = parse_statement(statement)
    assert st is not None, "well_formed comes first"
    lid = f"{cid}#{stage}"
    if stage == "elaborates":
        # `sorry` goes in the statement region, which the static screen leaves alone (it screened the
        # statement at well_formed): a `sorry` proof is what Lean elaborates to `incomplete`
        return from_parts(lid, header, statement.rstrip() + "\n  sorry\n", "")
    if stage == "consistent":
        if not st.binders:
            return ok(stage, "no hypotheses", "no hypotheses to contradict each other")
        return from_code(lid, header, _budget_theorem(st, "bridge_consistency", st.binder_text, "False",
                                                      budget_tactic(budget)))
    if stage == "nontrivial":
        return from_code(lid, header, _budget_theorem(st, "bridge_trivial", st.binder_text, st.conclusion,
                                                      budget_tactic(budget)))
    if stage == "negation_unproved":
        claim = f"∀ {st.binder_text}, {st.conclusion}" if st.binders else st.conclusion
        return from_code(lid, header, _budget_theorem(st, "bridge_negation", "", f"¬ ({claim})",
                                                      negation_tactic(budget)))
    raise ValueError(f"not a Lean stage: {stage}")


def _budget_theorem(st: Statement, name: str, binders: str, goal: str, tactic: str) -> str:
    return st.signature_with(name, binders, goal) + f"  {tactic}\n"


_PROVED = {
    "consistent": ("contradictory hypotheses", "the tactic budget proves `False` from its hypotheses"),
    "nontrivial": ("trivial", "the tactic budget proves the statement outright"),
    "negation_unproved": ("negation provable", "the tactic budget proves its negation: the statement is false"),
}


def lean_result(stage: str, v: Verdict) -> StageResult:
    """A Lean stage's decision from the verdict on its candidate. A check that could not be made
    (rejected, crashed) drops the candidate: the funnel fails closed."""
    detail = {"verdict": v.verdict, "rule": v.rule, "gate": v.gate}
    if stage == "elaborates":
        errors = [m for m in v.messages if m.get("severity") == "error"]
        if v.verdict == "incomplete" and not errors:
            return ok(stage, "elaborates", "elaborates with `sorry` in the header", **detail)
        return no(stage, f"{v.verdict}: {error_kind(v) or 'proved with sorry?'}",
                  v.reason or "a statement with `sorry` was not `incomplete`", **detail)
    if v.verdict == "proved":
        kind, reason = _PROVED[stage]
        return no(stage, kind, reason, **detail)
    if v.verdict in ("failed", "incomplete", "timeout"):
        return ok(stage, "budget failed", f"the tactic budget did not prove it ({v.verdict})", **detail)
    return no(stage, f"unchecked: {v.verdict}" + (f" ({v.rule})" if v.rule else ""),
              f"the check could not be made, so the candidate is dropped: {v.reason}", **detail)


# -- the proof stage (--prove N) -----------------------------------------------------------------------


def check_proved(samples: int, verdicts: dict[str, Verdict], count_fast_gate: bool = False) -> StageResult | None:
    """The ``proved`` stage of one survivor from the verdicts on its prover samples (sample id -> verdict):
    None while fewer than ``samples`` are decided (the stage is pending: a resumed run decides it); a fast-gate
    ``proved`` counts only with ``count_fast_gate``, a stand-in REPL's never (``Verdict.counted``)."""
    proved = sorted(sid for sid, v in verdicts.items() if v.counted(count_fast_gate))
    if len(verdicts) < samples:
        return None
    data = {"samples": samples, "proved": len(proved), "proofs": proved}
    if proved:
        return ok(PROVED, "proved", f"{len(proved)} of {samples} proof(s) verified", **data)
    kinds = sorted({v.verdict for v in verdicts.values()})
    return no(PROVED, "no proof verified", f"none of {samples} proof(s) verified ({', '.join(kinds)})", **data)


# -- back-translation votes ---------------------------------------------------------------------------


def parse_rule(text: str) -> str:
    """``unanimous``, ``majority`` or a number N (at least N yes votes); anything else is an error."""
    t = text.strip().lower()
    if t in VOTE_RULES or (t.isdigit() and int(t) >= 1):
        return t
    raise ValueError(f"--vote must be unanimous, majority or a number of yes votes, not {text!r}")


def tally(votes: list[bool | None], rule: str) -> tuple[bool, str]:
    """Whether the votes pass under ``rule``; a vote that could not be read counts as no (fail closed)."""
    yes = sum(1 for x in votes if x is True)
    unread = sum(1 for x in votes if x is None)
    n = len(votes)
    if n == 0:
        return False, "no judge voted"
    need = n if rule == "unanimous" else n // 2 + 1 if rule == "majority" else int(rule)
    tail = f" ({unread} unreadable, counted as no)" if unread else ""
    verdict = yes >= need
    return verdict, f"{yes}/{n} judges agree, {rule} needs {need}{tail}"
