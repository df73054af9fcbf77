"""Header reuse: a fake REPL whose header costs H seconds (standing in for `import Mathlib`), 200
candidates over two or more headers: the pool (header elaborated once per worker) against one fresh
process per candidate (what `lake env lean file.lean` per candidate costs), both with the same number
of parallel workers; and the pool's header elaborations against the minimum (one per distinct header:
nothing is gained by elaborating a header on a second worker when the work left for it is cheaper).

Targets (issues 4, 10): the pool at least 50x faster; header elaborations equal to the minimum.

    python benchmarks/bench_header_reuse.py [--n 200] [--header-s 0.5] [--workers 2] [--headers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import fake_argv, report

from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.repl import Repl

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"


def header(i: int, headers: int) -> str:
    return HEADER + f"-- header {i % headers}\n"


def body(i: int) -> str:
    return f"theorem t{i} (x : Nat) : x + 0 = x := by\n  simp"


def fresh_process(i: int, env: dict[str, str], headers: int) -> None:
    """One process per candidate: start, elaborate the header, check the body, exit."""
    msgs = json.dumps({"cmd": header(i, headers)}) + "\n\n" + json.dumps({"cmd": body(i), "env": 0}) + "\n\n"
    r = subprocess.run(fake_argv(), input=msgs.encode(), capture_output=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.count(b"\n\n") == 2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--header-s", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--headers", type=int, default=2)
    a = ap.parse_args()
    env = dict(os.environ, FAKE_REPL_HEADER_DELAY=str(a.header_s))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.workers) as ex:
        list(ex.map(lambda i: fresh_process(i, env, a.headers), range(a.n)))
    fresh_s = time.perf_counter() - t0

    limits = PoolLimits(timeout=60, header_timeout=60)
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "requests.log"
        penv = dict(env, FAKE_REPL_LOG=str(log))
        t0 = time.perf_counter()
        with Pool(lambda: Repl(fake_argv(), env=penv), workers=a.workers, limits=limits) as pool:
            outs = list(pool.run(Job(header=header(i, a.headers), body=body(i)) for i in range(a.n)))
        pool_s = time.perf_counter() - t0
        elaborations = [ln.split(" ", 2)[1] for ln in log.read_text().splitlines()].count("header")
    assert len(outs) == a.n and all(o.status == "ok" for o in outs)
    speedup = fresh_s / pool_s
    minimum = a.headers
    report("header_reuse", ["method", "seconds", "candidates/s", "header elaborations"],
           [["fresh process per candidate", round(fresh_s, 2), round(a.n / fresh_s, 1), a.n],
            ["bridge pool (header once per worker)", round(pool_s, 2), round(a.n / pool_s, 1), elaborations]],
           {"speedup": round(speedup, 1), "target": ">= 50", "pass": speedup >= 50, "n": a.n,
            "header_seconds": a.header_s, "workers": a.workers, "headers": a.headers,
            "header_elaborations": elaborations, "minimum_elaborations": minimum,
            "elaborations_vs_minimum": round(elaborations / minimum, 2)})


if __name__ == "__main__":
    main()
