"""Calibration of statement decontamination on the shipped data (``docs/decontamination.md``).

For miniF2F and ProofNet, every ``valid`` problem is scored against the ``test`` split (its best
near-duplicate score among test problems with the same canonical conclusion; 1.0 for the same canonical
form): the distribution, how many would be reported at the threshold, and the smallest margin. Then every
``test`` statement is disguised (renamed theorem, variables, hypotheses; reflowed; a comment; two
hypotheses swapped; all together, ``tests/fakes/disguise.py``) and must be caught against the problem it
copies. The old rule (a shared 20-gram of normalised tokens) is measured in the same run.

    BRIDGE_DATA_DIR=../shared/data python benchmarks/bench_decontam.py
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile

from _common import report

from bridge.config import load_config
from bridge.data.decontam import NEAR_THRESHOLD, EvalIndex
from bridge.data.loader import load_dataset
from bridge.data.problem import Problem
from bridge.verify.lean_text import mask
from tests.fakes.disguise import disguises

BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)


def old_rule_hits(train: list[Problem], ev: list[Problem], n: int = 20) -> int:
    """The rule this replaced (``bridge data decontam`` before issue 26): equal normalised token lists, or a
    shared ``n``-gram of them. Kept here only to measure it against the new one."""
    tok = re.compile(r"[^\W\d][\w'.₀-₉]*|\d+|\S")
    binder = re.compile(r"[(\[{⦃]\s*([^:()\[\]{}⦃⦄]+?)\s*:(?!=)")
    quant = re.compile(r"(?:∀|∃!?|fun|λ|Σ|∑|∏)\s+([^,:=>]+?)\s*(?:,|:|=>|↦|in\b|∈)")
    decl = re.compile(r"^\s*(?:noncomputable\s+)?(?:theorem|lemma|def)\s+\S+")

    def norm(s: str) -> list[str]:
        text = re.sub(r":=\s*(by)?\s*$", "", decl.sub("", mask(s).strip(), count=1).strip())
        names = {nm.strip("()") for rx in (binder, quant) for m in rx.finditer(text) for nm in m.group(1).split()}
        order: list[str] = []
        for t in tok.findall(text):
            if t in names and t not in order:
                order.append(t)
        ren = {nm: f"_v{i}" for i, nm in enumerate(order)}
        return [ren.get(t, t) for t in tok.findall(text)]

    def grams(t: list[str]) -> set[tuple[str, ...]]:
        return {tuple(t[i:i + n]) for i in range(len(t) - n + 1)}

    exact = {tuple(norm(e.formal_statement)) for e in ev}
    shared: set[tuple[str, ...]] = set().union(*(grams(norm(e.formal_statement)) for e in ev))
    return sum(1 for t in train if tuple(norm(t.formal_statement)) in exact or grams(norm(t.formal_statement)) & shared)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="minif2f,proofnet")
    ap.add_argument("--threshold", type=float, default=NEAR_THRESHOLD)
    args = ap.parse_args(argv)
    cfg = load_config(overrides={"cache_dir": tempfile.mkdtemp()})
    rows: list[list[object]] = []
    summary: dict[str, object] = {"threshold": args.threshold}
    for name in args.datasets.split(","):
        problems = load_dataset(name, cfg)
        valid = [p for p in problems if p.split == "valid"]
        test = [p for p in problems if p.split == "test"]
        index = EvalIndex(test)
        scores = [(index.best_score(p.formal_statement), p.id) for p in valid]
        reported = [(s, pid, eid) for (s, eid), pid in scores if s >= args.threshold]
        same_conclusion = [s for (s, eid), _ in scores if eid is not None]
        hist = []
        for lo, hi in zip(BINS, BINS[1:], strict=False):
            hist.append(sum(1 for s in same_conclusion if lo <= s < hi or (hi == 1.0 and s == 1.0)))
        top = sorted(scores, reverse=True)[:3]
        planted = caught = wrong = 0
        missed: list[str] = []
        for p in test:
            for kind, text in disguises(p.formal_statement).items():
                planted += 1
                hit = index.match(f"{p.id}/{kind}", text, args.threshold)
                if hit is None:
                    missed.append(f"{p.id}/{kind}")
                elif p.id in (hit.eval_id, *hit.also):
                    caught += 1
                else:
                    wrong += 1
                    missed.append(f"{p.id}/{kind} -> {hit.eval_id}")
        old_valid = old_rule_hits(valid, test)
        rows.append([name, len(valid), len(test), len(same_conclusion), *hist, round(max(same_conclusion or [0]), 4),
                     len(reported), old_valid, planted, caught, wrong, len(missed)])
        summary[name] = {"valid": len(valid), "test": len(test), "valid_with_a_same_conclusion_test": len(same_conclusion),
                         "histogram_bins": list(BINS), "histogram": hist,
                         "top_scores": [[round(s, 4), pid, eid] for (s, eid), pid in top],
                         "reported_valid_vs_test": len(reported), "old_rule_valid_vs_test": old_valid,
                         "planted": planted, "caught_against_original": caught, "caught_against_another": wrong,
                         "missed": missed[:20]}
    headers = ["dataset", "valid", "test", "same concl.", *[f"[{a},{b})" for a, b in zip(BINS, BINS[1:], strict=False)],
               "max score", "reported", "old rule", "planted", "caught", "wrong", "missed"]
    report("decontam_calibration", headers, rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
