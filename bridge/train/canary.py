"""Canaries: statements known to be false, put into every round's pool. Proving one means the verifier
(or a stand-in for it) accepts what it must not, so the run stops before anything is trained on it.

Two kinds (pure construction): ``False`` variants that hold under any header (Lean core only), and
negations of statements proved in earlier rounds (false unless Lean is inconsistent).
"""

from __future__ import annotations

import re

from bridge.data.problem import Problem
from bridge.verify.lean_text import mask, top_level_assign

PREFIX = "bridge_canary_"
SPLIT = "canary"
# (suffix, statement after the colon): false in Lean core, whatever the header opens
FALSE_VARIANTS = (
    ("false", "False"),
    ("zero_eq_one", "(0 : Nat) = 1"),
    ("all_nat_eq", "∀ a b : Nat, a = b"),
    ("lt_self", "∀ n : Nat, n < n"),
    ("true_imp_false", "True → False"),
    ("succ_eq_self", "∃ n : Nat, n + 1 = n"),
)
_HEAD = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|nonrec)\s+)*(theorem|lemma)\s+([^\s(:{\[⦃]+)")


def is_canary(problem_id: str) -> bool:
    return problem_id.startswith(PREFIX)


def split_statement(statement: str) -> tuple[str, str, str] | None:
    """(name, binders, type) of ``theorem NAME BINDERS : TYPE :=``, or None (a ``def``, no colon)."""
    m = _HEAD.match(mask(statement))
    if not m:
        return None
    assign = top_level_assign(statement, m.end())
    if assign < 0:
        return None
    masked = mask(statement)
    depth, colon = 0, -1
    for i in range(m.end(), assign):
        c = masked[i]
        if c in "([{⦃⟨":
            depth += 1
        elif c in ")]}⦄⟩":
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0 and masked[i + 1:i + 2] != "=":
            colon = i
            break
    if colon < 0:
        return None
    binders = " ".join(statement[m.end():colon].split())
    type_ = " ".join(statement[colon + 1:assign].split())
    return m.group(2), binders, type_


def _ident(name: str) -> str:
    return re.sub(r"[^\w']", "_", name)


def negation(problem: Problem) -> Problem | None:
    """``¬ (∀ BINDERS, TYPE)`` of a proved statement, as a problem of its own (same header), or None."""
    parts = split_statement(problem.formal_statement)
    if parts is None:
        return None
    name, binders, type_ = parts
    claim = f"∀ {binders}, {type_}" if binders else type_
    cid = f"{PREFIX}not_{_ident(problem.id)}"
    return Problem(id=cid, split=SPLIT, header=problem.header, name=cid, source="canary",
                   formal_statement=f"theorem {cid} : ¬ ({claim}) := by\n")


def false_variant(i: int, header: str) -> Problem:
    suffix, claim = FALSE_VARIANTS[i % len(FALSE_VARIANTS)]
    cid = f"{PREFIX}{suffix}"
    return Problem(id=cid, split=SPLIT, header=header, name=cid, source="canary",
                   formal_statement=f"theorem {cid} : {claim} := by\n")


def canaries(round_: int, header: str, proved: list[Problem], count: int) -> list[Problem]:
    """``count`` canaries for round ``round_`` (1-based): up to half negations of earlier proved statements
    (a different few each round), the rest ``False`` variants under the pool's ``header``."""
    negs = [c for c in (negation(p) for p in sorted(proved, key=lambda p: p.id)) if c is not None]
    k = min(len(negs), count // 2)
    start = ((round_ - 1) * k) % len(negs) if negs else 0
    chosen = [negs[(start + i) % len(negs)] for i in range(k)]
    n_false = min(count - k, len(FALSE_VARIANTS))
    return chosen + [false_variant(i, header) for i in range(n_false)]
