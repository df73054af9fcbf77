"""The Ray pool against the local pool: throughput per worker on a CPU-burning fake, and the driver's
cost per candidate.

    python benchmarks/bench_ray.py [--n 300] [--burn-s 0.02] [--actors 1 2] [--depth 2] [--batch 8]
                                   [--address ADDR]

For each size k: the local pool with k workers and the Ray pool with k actors check the same n jobs
(header + body, the fake REPL burning ``burn-s`` CPU seconds per body; no sandbox on either side, so
only the pools differ). Throughput is measured in the steady state, from the 10th outcome to the last,
so starting actors (reported apart, as "start") is not counted against either. "per worker" is the Ray
rate over the local rate at the same k (target: 0.9 or more): the median of ``--repeat`` back-to-back
pairs, their order alternating. Then, with a fake that burns nothing and
one worker, the driver's overhead per candidate: the added wall time per candidate, and the CPU time the
driver process spends per candidate (what bounds how many actors one driver can feed), with ``--batch``
jobs per actor call and, in the same run, with one job per call (the pool before batching).

Without ``--address`` a local Ray instance with max(actors) CPUs is started in this process, its workers
at ``--niceness`` (default 0, as the local pool's REPLs; Ray's own default, 15, lets any other process on
the machine take the REPLs' CPU).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import time

from _common import fake_argv, report

from bridge.config import load_config
from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.repl import Repl

WARM = 10  # outcomes before the clock starts: headers elaborated, actors up


def jobs(n: int) -> list[Job]:
    return [Job(header="import Mathlib\n", body=f"theorem t{i} : True := trivial") for i in range(n)]


def steady(pool, n: int) -> tuple[float, float, float]:
    """(candidates/s after the first WARM outcomes, seconds to the first outcome, driver CPU s/candidate)."""
    t0, c0 = time.perf_counter(), time.process_time()
    stamps = []
    for o in pool.run(jobs(n)):
        assert o.status == "ok", (o.status, o.detail)
        stamps.append(time.perf_counter())
    cpu = (time.process_time() - c0) / n
    return (len(stamps) - WARM) / (stamps[-1] - stamps[WARM - 1]), stamps[0] - t0, cpu


def local(k: int, n: int, burn: float, limits: PoolLimits) -> tuple[float, float, float]:
    env = dict(os.environ, FAKE_REPL_BURN=str(burn))
    with Pool(lambda: Repl(fake_argv(), env=env), workers=k, limits=limits) as pool:
        return steady(pool, n)


def on_ray(k: int, n: int, burn: float, limits: PoolLimits, depth: int, address: str | None,
           batch: int = 8) -> tuple[float, float, float]:
    from bridge.scale import RayPool

    cmd = f"env FAKE_REPL_BURN={burn} " + " ".join(shlex.quote(a) for a in fake_argv())
    cfg = load_config(overrides={"repl_cmd": cmd, "sandbox": False, "use_cache": False, "lean_version": "bench"})
    with RayPool(cfg, actors=k, limits=limits, address=address, depth=depth, batch=batch) as pool:
        return steady(pool, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--burn-s", type=float, default=0.02)
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--depth", type=int, default=2, help="calls queued at each actor (RayPool depth)")
    ap.add_argument("--batch", type=int, default=8, help="most jobs per actor call (RayPool batch)")
    ap.add_argument("--overhead-n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3, help="pairs of runs per size (median reported)")
    ap.add_argument("--address", help="an existing Ray cluster (default: a local instance in this process)")
    ap.add_argument("--niceness", type=int, default=0,
                    help="the local instance's worker niceness (Ray's default is 15; the local pool's REPLs run at 0)")
    a = ap.parse_args()
    import ray

    if a.address is None:
        # Ray starts its workers, and so their REPLs, at nice 15 unless told: a fair comparison runs both at 0
        os.environ["RAY_worker_niceness"] = str(a.niceness)
        ray.init(num_cpus=max(a.actors), include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=a.address, log_to_driver=False)
    limits = PoolLimits(timeout=60, header_timeout=60)
    rows = []
    per_worker = {}
    for k in a.actors:
        # back-to-back pairs, the order alternating, medians: a shared machine's load moves between runs
        runs: dict[str, list[tuple[float, float, float]]] = {"local": [], "ray": []}
        for r in range(a.repeat):
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            for which in order:
                runs[which].append(local(k, a.n, a.burn_s, limits) if which == "local"
                                   else on_ray(k, a.n, a.burn_s, limits, a.depth, a.address, a.batch))
        ratios = sorted(rr[0] / lr[0] for lr, rr in zip(runs["local"], runs["ray"], strict=True))
        lr, rr = (statistics.median(x[0] for x in runs[w]) for w in ("local", "ray"))
        ls, rs = (statistics.median(x[1] for x in runs[w]) for w in ("local", "ray"))
        per_worker[k] = statistics.median(ratios)
        rows.append([f"{k}", round(lr, 1), round(rr, 1), round(per_worker[k], 3),
                     f"{ratios[0]:.3f}-{ratios[-1]:.3f}", round(ls, 2), round(rs, 2)])
    # the driver's cost per candidate: nothing burned, one worker, so the pools are all there is
    l0, _, lcpu = local(1, a.overhead_n, 0.0, limits)
    r0, _, rcpu = on_ray(1, a.overhead_n, 0.0, limits, a.depth, a.address, a.batch)
    r1, _, rcpu1 = on_ray(1, a.overhead_n, 0.0, limits, a.depth, a.address, 1)
    overhead_ms = (1 / r0 - 1 / l0) * 1000
    ray.shutdown()
    cores = len(os.sched_getaffinity(0))
    report("ray", ["workers / actors", "local candidates/s", "ray candidates/s", "ray per worker (of local)",
                   "range of pairs", "local start s", "ray start s"], rows,
           {"burn_seconds_per_request": a.burn_s, "n": a.n, "depth": a.depth, "batch": a.batch, "cores": cores,
            "pairs": a.repeat,
            "per_worker": {str(k): round(v, 3) for k, v in per_worker.items()},
            "target": "ray per worker >= 0.9 of the local pool",
            "met": all(v >= 0.9 for v in per_worker.values()),
            "driver_overhead_ms_per_candidate (wall, 1 worker, no burn)": round(overhead_ms, 3),
            "driver_cpu_ms_per_candidate (ray)": round(rcpu * 1000, 3),
            "driver_cpu_ms_per_candidate (ray, 1 job per call, same run)": round(rcpu1 * 1000, 3),
            "driver_cpu_ms_per_candidate (local)": round(lcpu * 1000, 3),
            "candidates/s with no burn (local, ray, ray 1 job per call)": [round(l0, 1), round(r0, 1), round(r1, 1)],
            "ray": ray.__version__})


if __name__ == "__main__":
    main()
