"""Overhead of the harness: round trips per second through the pool (1 worker) against the fake REPL
answering at once, beside the floor: a minimal loop writing the same requests to the same fake over
pipes. Also a pexpect (PopenSpawn) loop, the design's first choice of driver, for comparison.

Target (issue 4): the pool within 1.5x of the floor per worker (aim 1.2x).

    python benchmarks/bench_overhead.py [--n 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

from _common import fake_argv, report

from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.repl import Repl

HEADER = "import Mathlib\n"


def bodies(n: int) -> list[str]:
    return [f"theorem t{i} (x : Nat) : x = x := by\n  rfl" for i in range(n)]


def floor_loop(n: int) -> float:
    """The least any client can do: write each request, read until the blank line, parse the JSON."""
    p = subprocess.Popen(fake_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdin and p.stdout
    t0 = time.perf_counter()
    p.stdin.write(json.dumps({"cmd": HEADER}).encode() + b"\n\n")
    p.stdin.flush()

    def read() -> None:
        buf = b""
        while not buf.endswith(b"\n\n"):
            buf += p.stdout.readline()
        json.loads(buf)

    read()
    for b in bodies(n):
        p.stdin.write(json.dumps({"cmd": b, "env": 0}).encode() + b"\n\n")
        p.stdin.flush()
        read()
    dt = time.perf_counter() - t0
    p.kill()
    p.wait()
    return n / dt


def pexpect_loop(n: int) -> float:
    from pexpect.popen_spawn import PopenSpawn

    child = PopenSpawn(fake_argv(), encoding="utf-8", maxread=1 << 16)
    t0 = time.perf_counter()
    child.send(json.dumps({"cmd": HEADER}) + "\n\n")
    child.expect("\n\n")
    for b in bodies(n):
        child.send(json.dumps({"cmd": b, "env": 0}) + "\n\n")
        child.expect("\n\n")
        json.loads(child.before)
    dt = time.perf_counter() - t0
    child.kill(9)
    return n / dt


def pool_loop(n: int) -> float:
    limits = PoolLimits(timeout=30, header_timeout=30, recycle_after=10**9)
    t0 = time.perf_counter()
    with Pool(lambda: Repl(fake_argv()), workers=1, limits=limits) as pool:
        count = sum(1 for o in pool.run(Job(header=HEADER, body=b) for b in bodies(n)) if o.status == "ok")
    dt = time.perf_counter() - t0
    assert count == n
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    runs: dict[str, list[float]] = {"floor (pipes)": [], "pexpect PopenSpawn": [], "bridge pool, 1 worker": []}
    ratios = []
    for _ in range(a.repeats):  # back-to-back pairs: this machine drifts, so compare within a pair
        f = floor_loop(a.n)
        p = pool_loop(a.n)
        runs["floor (pipes)"].append(f)
        runs["bridge pool, 1 worker"].append(p)
        runs["pexpect PopenSpawn"].append(pexpect_loop(a.n))
        ratios.append(f / p)
    med = statistics.median
    floor = med(runs["floor (pipes)"])
    rows = [[k, round(med(v), 1), round(floor / med(v), 3)] for k, v in runs.items()]
    ratio = med(ratios)
    report("overhead", ["client", "median round trips/s", "slowdown vs floor"], rows,
           {"pool_vs_floor_median_of_pairs": round(ratio, 3), "pair_ratios": [round(r, 3) for r in ratios],
            "target": "<= 1.5 (aim 1.2)", "pass": ratio <= 1.5, "n": a.n})


if __name__ == "__main__":
    main()
