"""Scaling: throughput at 1, 2, ... workers with a fake REPL that burns CPU per request, against the
ideal: the 1-worker rate times min(workers, cores) (no pool can beat the cores it has).

    python benchmarks/bench_scaling.py [--n 200] [--burn-s 0.02] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import os
import time

from _common import fake_argv, report

from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.repl import Repl


def run(workers: int, n: int, env: dict[str, str]) -> float:
    limits = PoolLimits(timeout=60, header_timeout=60)
    t0 = time.perf_counter()
    with Pool(lambda: Repl(fake_argv(), env=env), workers=workers, limits=limits) as pool:
        outs = list(pool.run(Job(header="import Mathlib\n", body=f"theorem t{i} : True := trivial") for i in range(n)))
    assert all(o.status == "ok" for o in outs)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--burn-s", type=float, default=0.02)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    env = dict(os.environ, FAKE_REPL_BURN=str(a.burn_s))
    rates = {w: run(w, a.n, env) for w in a.workers}
    base = rates[a.workers[0]] / a.workers[0]  # per worker at the smallest size measured
    cores = len(os.sched_getaffinity(0))
    rows = []
    for w, r in rates.items():
        ideal = base * min(w, cores)
        rows.append([w, round(r, 1), round(ideal, 1), round(r / ideal, 2)])
    report("scaling", ["workers", "candidates/s", "ideal candidates/s", "of ideal"], rows,
           {"burn_seconds_per_request": a.burn_s, "n": a.n, "cores": cores,
            "ideal": "1-worker rate x min(workers, cores)"})


if __name__ == "__main__":
    main()
