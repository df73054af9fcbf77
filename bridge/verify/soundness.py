"""The Lean-side rules of the soundness gate, each a pure function over REPL answers.

After a candidate elaborates cleanly, one follow-up command runs in its environment::

    #print axioms NAME
    set_option pp.all true in
    #check @NAME

and the same ``#check`` runs once per problem in the clean header environment after the reference
statement (with a ``sorry`` proof). A candidate is ``proved`` only when every rule below holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.lean.protocol import CommandResponse
from bridge.verify.candidate import Candidate, signature
from bridge.verify.verdict import SORRY_WARNING

DEFAULT_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
NATIVE_AXIOMS = frozenset({"Lean.ofReduceBool", "Lean.trustCompiler", "Lean.ofReduceNat"})

_AXIOMS = re.compile(r"depends on axioms: \[(?P<list>[^\]]*)\]", re.S)
_NO_AXIOMS = re.compile(r"does not depend on any axioms")
_TRY_THIS = re.compile(r"^Try this:")


@dataclass(frozen=True)
class GateOptions:
    allow_native_decide: bool = False
    extra_axioms: frozenset[str] = frozenset()

    def allowed_axioms(self) -> frozenset[str]:
        allowed = DEFAULT_AXIOMS | self.extra_axioms
        return allowed | NATIVE_AXIOMS if self.allow_native_decide else allowed

    def screen_options(self) -> frozenset[str]:
        return frozenset({"allow_native_decide"}) if self.allow_native_decide else frozenset()


@dataclass(frozen=True)
class Rejection:
    rule: str
    reason: str


def followup_command(name: str) -> str:
    return f"#print axioms {name}\n\nset_option pp.all true in\n#check @{name}"


def reference_command(candidate: Candidate) -> str:
    """The reference statement with a `sorry` proof, elaborated in the clean header environment."""
    return signature(candidate.statement) + " sorry"


def parse_axioms(resp: CommandResponse) -> list[str] | None:
    """Axiom names from a ``#print axioms`` answer; None if the answer has no such message."""
    for m in resp.messages or []:
        if m.severity != "info":
            continue
        hit = _AXIOMS.search(m.data)
        if hit:
            return [a.strip() for a in hit.group("list").replace("\n", " ").split(",") if a.strip()]
        if _NO_AXIOMS.search(m.data):
            return []
    return None


def printed_type(resp: CommandResponse) -> str | None:
    """The ``#check @NAME`` line printed with ``pp.all``."""
    for m in resp.messages or []:
        if m.severity == "info" and not _AXIOMS.search(m.data) and not _NO_AXIOMS.search(m.data):
            return " ".join(m.data.split())
    return None


def rule_no_sorry(axioms: list[str], body: CommandResponse) -> Rejection | None:
    """1. No `sorry` anywhere: the axioms decide (``sorryAx``), not only the `sorries` field."""
    if "sorryAx" in axioms:
        return Rejection("sorry", "the theorem depends on `sorryAx`: a `sorry` is hidden in the proof")
    if body.sorries or any(SORRY_WARNING.search(m.data) for m in body.messages or []):
        return Rejection("sorry", "Lean reported a `sorry`")
    return None


def rule_statement(candidate: Candidate, check: CommandResponse, reference: CommandResponse | None) -> Rejection | None:
    """2. The declaration is the reference statement: same name, same fully explicit type."""
    if candidate.kind not in ("theorem", "lemma", "def"):
        return Rejection("statement", f"the target is a `{candidate.kind}`, not a theorem")
    got = printed_type(check)
    if got is None or check.errors:
        return Rejection("statement", f"`{candidate.name}` could not be printed in the candidate's environment")
    if reference is None:
        return None  # free-form code: no reference to compare with
    want = printed_type(reference)
    if want is None:
        return Rejection("statement", "the reference statement did not elaborate in the header environment")
    if got != want:
        return Rejection("statement", "the proved type differs from the reference statement "
                         f"(pp.all): got `{got[:200]}`, expected `{want[:200]}`")
    return None


def rule_axioms(axioms: list[str], options: GateOptions) -> Rejection | None:
    """3. Axioms within the allow-list (propext, Classical.choice, Quot.sound; native with the flag)."""
    bad = [a for a in axioms if a not in options.allowed_axioms()]
    if bad:
        hint = " (allow with --allow-native-decide)" if set(bad) <= NATIVE_AXIOMS else ""
        return Rejection("axioms", f"depends on axioms outside the allow-list: {', '.join(bad)}{hint}")
    return None


def rule_no_search_tactic(body: CommandResponse) -> Rejection | None:
    """4. No ``apply?``/``exact?``/``rw?`` left: they answer with "Try this:"."""
    for m in body.messages or []:
        if m.severity == "info" and _TRY_THIS.match(m.data):
            return Rejection("search_tactic", "a proof-search tactic (`apply?`, `exact?`, ...) was left in the proof")
    return None


def judge(candidate: Candidate, body: CommandResponse, followup: CommandResponse | None,
          reference: CommandResponse | None, options: GateOptions) -> Rejection | None:
    """The first rule that fails, or None. ``body`` must already be free of errors and sorries."""
    if not candidate.name:
        return Rejection("statement", "no theorem to check: the code declares no named theorem")
    if followup is None:
        return Rejection("statement", "the soundness follow-up did not run")
    axioms = parse_axioms(followup)
    if axioms is None:
        return Rejection("axioms", f"`#print axioms {candidate.name}` gave no answer")
    for r in (rule_no_sorry(axioms, body), rule_statement(candidate, followup, reference),
              rule_axioms(axioms, options), rule_no_search_tactic(body)):
        if r is not None:
            return r
    return None
