"""Cache and deduplication: 64 samples of one problem with many duplicates (as sampled proofs are).
The number of candidates that reach Lean must equal the number of distinct candidates; a second run
reaches Lean zero times.

    python benchmarks/bench_cache.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from _common import FAKE, report

from bridge.config import load_config
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts

STMT = "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"
PROOFS = ["  linarith", "  nlinarith", "  field_simp at h₀ ⊢\n  linarith", "  have := h₀\n  linarith",
          "  norm_num at h₀ ⊢\n  linarith", "  exact FAKE_ERROR", "  simp -- FAKE_UNSOLVED", "  linarith [h₀]"]


def main() -> None:
    rng = random.Random(0)
    samples = [rng.choice(PROOFS) for _ in range(64)]
    cands = [from_parts(f"s{i}", None, STMT, p) for i, p in enumerate(samples)]
    distinct = len(set(samples))
    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(overrides=dict(repl_cmd=f"{sys.executable} {FAKE}", workers=2, cache_dir=Path(d),
                                         sandbox=False), environ={})
        rows = []
        for label in ("first run", "second run (warm cache)"):
            t0 = time.perf_counter()
            with Verifier(cfg) as v:
                got = list(v.verify(cands))
                stats = v.stats
            rows.append([label, len(got), stats.lean_checked, stats.duplicates, stats.cache_hits,
                         round(time.perf_counter() - t0, 3)])
    first, second = rows
    ok = first[2] == distinct and second[2] == 0
    report("cache", ["run", "candidates", "checked in Lean", "in-run duplicates", "cache hits", "seconds"], rows,
           {"distinct_candidates": distinct, "pass": ok})


if __name__ == "__main__":
    main()
