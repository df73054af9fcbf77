"""Overlap of generation and verification in `bridge prove`: a stand-in generator of fixed speed and the
fake REPL burning CPU per candidate. The pipeline's wall time should be close to the slower stage, not
to the sum of both, each stage measured alone in the same run.

    python benchmarks/bench_overlap.py [--problems 6] [--samples 8] [--gen-s 0.05] [--check-s 0.08]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import FAKE, report

from bridge.config import load_config
from bridge.data.problem import Problem
from bridge.runs.store import RunStore
from bridge.verify.api import Verifier
from provers.backends.base import Prompt, SamplingParams
from provers.pipeline import Pipeline, ProveSettings
from provers.templates import FAMILIES, extract, render


class FixedSpeed:
    """Stands in for a GPU: sleeps a fixed time per sample (releasing the CPU, as a GPU would)."""

    name = "fixed-speed"

    def __init__(self, per_sample: float, check_s: float):
        self.per_sample = per_sample
        self.check_s = check_s

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        time.sleep(self.per_sample * n)
        return [f"  simp -- FAKE_BURN={self.check_s} {params.seed} {i}\n```" for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=6)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--gen-s", type=float, default=0.05)
    ap.add_argument("--check-s", type=float, default=0.08)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    fam = FAMILIES["deepseek-v1.5"]
    problems = [Problem(id=f"p{i}", split="test", header="import Mathlib\n", name=f"p{i}",
                        formal_statement=f"theorem p{i} (x : Nat) : x + 0 = x := by\n") for i in range(a.problems)]
    backend = FixedSpeed(a.gen_s, a.check_s)
    params = SamplingParams()
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(overrides=dict(repl_cmd=f"{sys.executable} {FAKE}", workers=a.workers, use_cache=False,
                                         cache_dir=Path(d), sandbox=False), environ={})
        # each stage alone
        t0 = time.perf_counter()
        answers = [(p, s, backend.generate(render(fam, p), 1, SamplingParams(seed=s))[0])
                   for p in problems for s in range(a.samples)]
        gen_only = time.perf_counter() - t0
        cands = [extract(fam, p, text, f"{p.id}/0/{s}") for p, s, text in answers]
        t0 = time.perf_counter()
        with Verifier(cfg) as v:
            n = sum(1 for _ in v.verify(cands))
        verify_only = time.perf_counter() - t0
        assert n == len(cands)
        # overlapped
        with Verifier(cfg) as v, RunStore(Path(d) / "run") as store:
            store.add_problems(problems)
            pipe = Pipeline(backend, fam, v, store, ProveSettings(samples=a.samples, params=params, chunk=1))
            t0 = time.perf_counter()
            pipe.run(problems)
            both = time.perf_counter() - t0
            assert sum(n for n, _ in store.counts().values()) == a.problems * a.samples
    slower, total = max(gen_only, verify_only), gen_only + verify_only
    rows = [["generation alone", round(gen_only, 2)], ["verification alone", round(verify_only, 2)],
            ["sum of both", round(total, 2)], ["pipeline (overlapped)", round(both, 2)]]
    report("overlap", ["stage", "seconds"], rows,
           {"pipeline_over_slower_stage": round(both / slower, 2), "pipeline_over_sum": round(both / total, 2),
            "samples": a.problems * a.samples, "workers": a.workers})


if __name__ == "__main__":
    main()
