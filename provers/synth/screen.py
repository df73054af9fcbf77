"""Screening and choosing items (pure): well formed, new, clean; proved, capped per seed, no near-duplicates."""

from __future__ import annotations

from typing import Any

from bridge.data.decontam import NEAR_THRESHOLD, Canonical, canonical, similarity
from bridge.data.problem import Problem
from bridge.verify.verdict import Verdict
from provers.formalize.stages import (
    StageResult,
    check_uncontaminated,
    check_unique,
    check_well_formed,
    dedupe_key,
)
from provers.synth.common import LEAN_BAND, MAX_PER_SEED, Seed, SynthItem

# -- choosing (pure) -------------------------------------------------------------------------------------


def screen_items(items: list[SynthItem], seeds: list[Seed], against: dict[str, list[Problem]],
                 n: int) -> tuple[list[SynthItem], dict[str, StageResult]]:
    """Items that are well formed, new (not a seed's statement, not another item's) and clean; and why
    each other item was dropped (pure)."""
    seen = {dedupe_key(s.statement): f"seed {s.id}" for s in seeds}
    keep: list[SynthItem] = []
    dropped: dict[str, StageResult] = {}
    for it in items:
        r = check_well_formed(it.statement, it.header)
        if r.passed:
            r = check_unique(it.id, it.statement, seen)
        if r.passed:
            r = check_uncontaminated(it.id, it.statement, against, n)
        if r.passed:
            keep.append(it)
        else:
            dropped[it.id] = r
    return keep, dropped


def choose(items: list[SynthItem], verdicts: dict[str, Verdict], count_fast_gate: bool,
           max_per_seed: int = MAX_PER_SEED, threshold: float = NEAR_THRESHOLD) -> tuple[list[SynthItem], dict[str, str]]:
    """Items the gate proved, one per group (the first proved variant), at most ``max_per_seed`` per seed and
    method (0: no cap), none a near-duplicate of one kept before it (``decontam``'s canonical form: the same
    conclusion and a score of at least ``threshold``); why each other one is out (pure)."""
    kept: list[SynthItem] = []
    why: dict[str, str] = {}
    taken: set[str] = set()
    per_seed: dict[tuple[str, str], int] = {}
    forms: list[tuple[str, Canonical]] = []
    for it in items:
        v = verdicts.get(it.id)
        g = it.group or it.id
        if v is None:
            why[it.id] = "not verified (the run stopped)"
            continue
        if not v.counted(count_fast_gate):
            why[it.id] = f"{v.verdict}" + (f" ({v.rule})" if v.rule else "") + f": {(v.reason or 'fast gate only')[:200]}"
            continue
        if g in taken:
            why[it.id] = "superseded: an earlier variant of the same `have` is proved"
            continue
        key = (it.parent, it.method)
        if max_per_seed and per_seed.get(key, 0) >= max_per_seed:
            why[it.id] = (f"over the per-seed cap: {max_per_seed} {it.method} item(s) of {it.parent} kept already "
                          "(--max-per-seed)")
            continue
        form = canonical(it.statement)
        near = next(((kid, sc) for kid, kf in forms if kf.conclusion == form.conclusion
                     and (sc := similarity(form, kf)) >= threshold), None)
        if near is not None:
            why[it.id] = f"near-duplicate: of {near[0]} (score {near[1]:.3f})"
            continue
        taken.add(g)
        per_seed[key] = per_seed.get(key, 0) + 1
        forms.append((it.id, form))
        kept.append(it)
    return kept, why


def item_row(it: SynthItem, v: Verdict, strict: bool, meta: dict[str, Any]) -> dict[str, Any]:
    """An item as a problem row with its proof: `bridge prove` reads it, `bridge train sft` trains on it
    (band lean-formalized)."""
    return {"name": it.id, "split": "train", "header": it.header, "formal_statement": it.statement, "proof": it.proof,
            "band": LEAN_BAND, "source": f"synth:{it.method}", "tags": ["synthetic", it.method],
            "provenance": {"method": it.method, "parent": it.parent, **it.provenance, "seeds_from": meta.get("source"),
                           "verified": {"verdict": v.verdict, "gate": v.gate, "strict": strict,
                                        "lean_version": v.lean_version}}}
