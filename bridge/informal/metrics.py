"""Informal metrics over per-problem results (pure): pass@k, maj@k, consensus, selected pass@k, profiles.

Answers are grouped by equivalence (:func:`group_answers`); the majority is the largest group, ties going
to the group whose first answer came first (sample order). ``consensus_rate`` is the share of a
problem's samples in its majority group (unanswered samples count in the denominator, not as a group).

``consensus_pass_at_k`` at k is the probability that the majority of k samples drawn without
replacement from the n is correct, computed exactly (a multivariate hypergeometric sum), with the same
tie rule applied to the drawn samples: groups keep the rank of their first answer among all n. At k = n
it is the majority over all samples (``maj_at_k``), at k = 1 it is c / n (pass@1).

``selected_pass_at_k`` at k: a selector ranks the samples (the PRM: by aggregated step score, ties by
sample order); the pick of k random samples is the best-ranked of them, so the estimate is
``sum over ranks r of correct[r] * C(n-1-r, k-1) / C(n, k)``, exact and unbiased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Any

from bridge.eval.passk import mean_pass_at_k


def group_answers(answers: Sequence[tuple[int, str | None]], same: Callable[[str, str], bool],
                  key: Callable[[str], str] = lambda s: s) -> list[list[int]]:
    """Sample indices grouped by answer, groups in order of first appearance, members in sample order.

    Answers with the same ``key`` (a normal form) are one group without asking; an answer with a new key
    joins the first group whose representative (its first answer) ``same(representative, answer)``
    accepts, else starts a group. Greedy: equivalence need not be transitive, and this decides once.
    Samples without an answer (None) are in no group."""
    groups: list[list[int]] = []
    reps: list[str] = []
    by_key: dict[str, int] = {}
    for idx, ans in answers:
        if ans is None:
            continue
        k = key(ans)
        g = by_key.get(k)
        if g is None:
            g = next((i for i, rep in enumerate(reps) if same(rep, ans)), None)
            if g is None:
                g = len(groups)
                groups.append([])
                reps.append(ans)
            by_key[k] = g
        groups[g].append(idx)
    return groups


@dataclass(frozen=True)
class Group:
    members: tuple[int, ...]  # sample indices, in sample order
    answer: str  # the representative: the group's first answer
    correct: bool  # the representative's grade


@dataclass
class ProblemResult:
    """One problem's graded samples, reduced to what the metrics need."""

    id: str
    split: str
    band: str | None
    n: int  # graded samples
    c: int  # correct samples
    groups: list[Group]  # in order of first appearance
    rankings: dict[str, list[bool]] = field(default_factory=dict)  # selector -> correctness, best first

    @property
    def majority(self) -> Group | None:
        return majority(self.groups)

    @property
    def majority_correct(self) -> bool:
        m = self.majority
        return m is not None and m.correct

    @property
    def consensus(self) -> float:
        m = self.majority
        return len(m.members) / self.n if m is not None and self.n else 0.0


def majority(groups: Sequence[Group]) -> Group | None:
    """The largest group; a tie goes to the group seen first."""
    best: Group | None = None
    for g in groups:
        if best is None or len(g.members) > len(best.members):
            best = g
    return best


def _poly_mul(a: list[int], b: list[int], k: int) -> list[int]:
    out = [0] * min(len(a) + len(b) - 1, k + 1)
    for i, x in enumerate(a):
        if x and i <= k:
            for j, y in enumerate(b[: k + 1 - i]):
                out[i + j] += x * y
    return out


def consensus_pass_at_k(sizes: Sequence[int], correct: Sequence[bool], unanswered: int, k: int) -> float:
    """P(the majority of k samples drawn without replacement is a correct group).

    ``sizes[i]`` / ``correct[i]``: the groups in rank order (first appearance); ``unanswered`` samples
    vote for nothing. A drawn group with x votes wins when every group ranked before it drew fewer than x
    and every group after it at most x; with nothing answered drawn there is no majority (not correct).
    """
    n = sum(sizes) + unanswered
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    total = 0
    for ci, (a, ok) in enumerate(zip(sizes, correct, strict=True)):
        if not ok:
            continue
        for x in range(1, min(a, k) + 1):
            poly = [comb(unanswered, z) for z in range(min(unanswered, k) + 1)]
            for j, b in enumerate(sizes):
                if j == ci:
                    continue
                cap = min(b, x - 1 if j < ci else x)
                poly = _poly_mul(poly, [comb(b, y) for y in range(cap + 1)], k - x)
            rest = k - x
            total += comb(a, x) * (poly[rest] if rest < len(poly) else 0)
    return total / comb(n, k)


def selected_at_k(correct_by_rank: Sequence[bool], k: int) -> float:
    """P(the best-ranked of k random samples is correct); ``correct_by_rank`` best first."""
    n = len(correct_by_rank)
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    return sum(comb(n - 1 - r, k - 1) for r, ok in enumerate(correct_by_rank) if ok) / comb(n, k)


def rank_by_score(scores: dict[int, float], correct: dict[int, bool]) -> list[bool]:
    """Correctness of the samples, highest score first (ties: sample order); unscored samples last."""
    order = sorted(correct, key=lambda i: (-(scores[i]) if i in scores else float("inf"), i))
    return [correct[i] for i in order]


def _mean(xs: Iterable[float]) -> float | None:
    vals = list(xs)
    return sum(vals) / len(vals) if vals else None


def summary(rows: Sequence[ProblemResult], ks: Sequence[int], budget: int) -> dict[str, Any]:
    """Every figure of one group of problems (all, a split, a band)."""
    sampled = [r for r in rows if r.n > 0]
    full = [r for r in sampled if r.n >= budget]  # maj@N: problems with all N samples, as pass@N
    cons = {str(k): _mean(consensus_pass_at_k([len(g.members) for g in r.groups], [g.correct for g in r.groups],
                                              r.n - sum(len(g.members) for g in r.groups), k)
                          for r in sampled if r.n >= k) for k in ks}
    selectors = sorted({s for r in sampled for s in r.rankings})
    selected: dict[str, Any] = {"majority": cons}
    for s in selectors:
        selected[s] = {str(k): _mean(selected_at_k(r.rankings[s], k) for r in sampled
                                     if s in r.rankings and len(r.rankings[s]) >= k) for k in ks}
    return {
        "problems": len(rows),
        "solved": sum(1 for r in rows if r.c > 0),
        "pass_at_k": {str(k): mean_pass_at_k([(r.n, r.c) for r in sampled], k) for k in ks},
        "maj_at_k": {str(budget): _mean(1.0 if r.majority_correct else 0.0 for r in full)} if budget else {},
        "consensus_rate": _mean(r.consensus for r in sampled),
        "consensus_pass_at_k": cons,
        "selected_pass_at_k": selected,
    }


# -- response profiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What one response looks like."""

    chars: int
    steps: int  # non-empty paragraphs (blank-line separated)
    code_blocks: int  # ```python blocks
    executions: int  # code blocks run (TIR)
    answer_present: bool
    correct: bool


def profile_summary(profiles: Sequence[Profile]) -> dict[str, Any]:
    """Means over all responses, the correct ones and the others."""

    def part(ps: Sequence[Profile]) -> dict[str, Any]:
        return {"samples": len(ps), "mean_chars": _mean(p.chars for p in ps), "mean_steps": _mean(p.steps for p in ps),
                "mean_code_blocks": _mean(p.code_blocks for p in ps),
                "mean_executions": _mean(p.executions for p in ps),
                "answer_present_rate": _mean(1.0 if p.answer_present else 0.0 for p in ps)}

    return {"all": part(profiles), "correct": part([p for p in profiles if p.correct]),
            "incorrect": part([p for p in profiles if not p.correct])}
