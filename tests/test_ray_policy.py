"""The Ray pool's decisions (pure, no Ray needed) and its actor's worker, driven in-process."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.lean.pool import Job, Pool, PoolLimits, _Scheduler, _Worker
from bridge.scale import policy
from bridge.scale.nodes import NodeFacts, judge
from bridge.scale.worker import CheckWorker, WorkerSetup, actor_config
from tests.conftest import FAKE_REPL, repl_log

HEADERS = ["import Mathlib\n", "import Mathlib.Tactic\n", "import Init\n", "import Aesop\n"]


@settings(max_examples=300, deadline=None)
@given(
    mine=st.sets(st.sampled_from(HEADERS)),
    waiting=st.dictionaries(st.sampled_from(HEADERS), st.integers(0, 12)),
    loaded=st.dictionaries(st.sampled_from(HEADERS), st.integers(0, 4)),
    header_cost=st.dictionaries(st.sampled_from(HEADERS), st.floats(0.01, 10)),
    job_cost=st.floats(0.0, 5.0),
    jobs_timed=st.integers(0, 30),
)
def test_actor_placement_is_the_local_schedulers_rule(mine, waiting, loaded, header_cost, job_cost, jobs_timed) -> None:
    """An actor and a local worker in the same state choose the same header (or both wait)."""
    sched = _Scheduler(64)
    for h, n in waiting.items():
        sched.queues[h] = collections.deque(Job(header=h, body="") for _ in range(n))
    sched.loaded.update(loaded)
    sched.header_cost, sched.job_cost, sched.jobs_timed = dict(header_cost), job_cost, jobs_timed
    costs = policy.Costs(dict(header_cost), job_cost, jobs_timed)
    assert policy.choose_header(set(mine), waiting, loaded, costs) == sched._choose(set(mine))


def test_costs_update_as_the_local_scheduler() -> None:
    sched = _Scheduler(8)
    costs = policy.Costs()
    for h, hs, js in [("a", 2.0, None), (None, None, 0.5), ("b", 0.0, 1.5), (None, None, 0.1)]:
        sched.timed(h, hs, js)
        costs = policy.timed(costs, h, hs, js)
    assert (costs.header, costs.job, costs.jobs_timed) == (sched.header_cost, sched.job_cost, sched.jobs_timed)


def test_actors_fill_usable_nodes_evenly_and_never_past_their_cpus() -> None:
    nodes = [policy.NodeSlot("a", 4), policy.NodeSlot("b", 2), policy.NodeSlot("c", 8, usable=False)]
    assert policy.place_actors(nodes, 4) == ["a", "a", "a", "b"]  # most CPUs free first, ties in order
    assert len(policy.place_actors(nodes, 16)) == 6  # c is never used: it lacks the toolchain or bwrap
    assert policy.place_actors(nodes, 2, taken={"a": 4}) == ["b", "b"]
    assert policy.place_actors(nodes, 1, taken={"a": 4, "b": 2}) == []
    assert policy.auto_actors(nodes) == 6


def test_resubmission_policy() -> None:
    # the job the lost actor was running: once more, alone; a second loss stands as its verdict
    assert policy.after_loss(policy.LostJob(losses=0, running=True)) == policy.RESUBMIT_ALONE
    assert policy.after_loss(policy.LostJob(losses=1, running=True)) == policy.GIVE_UP
    # jobs queued behind it never started: back to the queue, whatever happened to them before
    assert policy.after_loss(policy.LostJob(losses=1, running=False)) == policy.REQUEUE


def test_stragglers() -> None:
    lim = PoolLimits(timeout=10, header_timeout=20, retries=1)
    assert not policy.should_ping(now=105, busy_since=100, last_ping=None, limits=lim)  # within the timeout
    assert policy.should_ping(now=111, busy_since=100, last_ping=None, limits=lim)
    assert not policy.should_ping(now=115, busy_since=100, last_ping=111, limits=lim)  # answered just now
    assert policy.straggling(200, 100, ping_sent=150, ping_timeout=30, limits=lim) is not None  # no answer
    assert policy.straggling(200, 100, ping_sent=190, ping_timeout=30, limits=lim) is None  # still waiting
    # an actor that answers its pings is never given up on before an honest check could be over
    budget = policy.job_budget(lim)
    assert budget >= 2 * (3 * 20 + 4 * 10)
    assert policy.straggling(100 + budget - 1, 100, None, 30, lim) is None
    assert "no verdict within" in (policy.straggling(100 + budget + 1, 100, None, 30, lim) or "")


def test_node_judgement_says_why() -> None:
    good = NodeFacts(toolchain="lean 4.9.0", project="/p", lean_version="v4.9.0", manifest_hash="abc",
                     bubblewrap=True)
    assert judge(good, "v4.9.0", "abc") == (True, "")
    ok, why = judge(NodeFacts(**{**good.__dict__, "bubblewrap": False, "bubblewrap_note": "not installed"}),
                    "v4.9.0", "abc")
    assert not ok and "bubblewrap" in why and "not installed" in why
    ok, why = judge(NodeFacts(**{**good.__dict__, "toolchain": None, "toolchain_note": "no lean"}), "v4.9.0", "abc")
    assert not ok and "no toolchain" in why
    ok, why = judge(good, "v4.9.0", "other")
    assert not ok and "another Lean project" in why
    assert judge(NodeFacts(error="the node is dead"), "v4.9.0", "abc") == (False, "the node is dead")


def test_the_actor_is_a_pool_worker_kept_across_jobs(fake_cfg, tmp_path: Path) -> None:
    """In-process (no Ray): one header elaboration for many jobs, recycling, and nothing of the cache."""
    log = tmp_path / "log"
    cfg = fake_cfg(workers=1, sandbox=False, FAKE_REPL_LOG=str(log))
    from bridge.lean.project import repl_launch
    from bridge.lean.repl import Repl

    launch = repl_launch(cfg)
    setup = WorkerSetup(actor_config(cfg), PoolLimits(timeout=5, header_timeout=5, recycle_after=9),
                        launch.lean_version, launch.manifest_hash)
    w = CheckWorker(setup)
    try:
        outs = [w.check(Job(header="import Mathlib\n", body=f"theorem t{i} : True := trivial")) for i in range(20)]
    finally:
        w.shutdown()
    assert all(r.outcome is not None and r.outcome.status == "ok" for r in outs)
    assert outs[0].claimed == frozenset({"import Mathlib\n"})
    entries = repl_log(log)
    first = [k for pid, k, _ in entries if pid == entries[0][0]]
    assert first == ["header"] + ["cmd"] * 8  # warm across 8 separate calls, then recycled (recycle_after=9)
    with Pool(lambda: Repl([sys.executable, str(FAKE_REPL)]), workers=1, limits=setup.limits) as pool:
        assert [o.status for o in pool.run(Job(header="import Mathlib\n", body=f"theorem t{i} : True := trivial")
                                           for i in range(20))] == ["ok"] * 20
    assert outs[-1].started == pool.started  # recycled exactly as the local pool's worker
    assert setup.cfg.use_cache is False and not (tmp_path / "cache").exists()


def test_local_pool_and_actor_worker_answer_alike(fake_cfg) -> None:
    cfg = fake_cfg(workers=1, sandbox=False)
    from bridge.lean.project import repl_launch
    from bridge.lean.repl import Repl

    launch = repl_launch(cfg)
    limits = PoolLimits(timeout=1, header_timeout=1)
    bodies = ["theorem a : True := trivial", "theorem b : True := FAKE_ERROR", "theorem c : True := by -- FAKE_CRASH"]
    with Pool(lambda: Repl([sys.executable, str(FAKE_REPL)]), workers=1, limits=limits) as pool:
        local = [(o.status, o.attempts, o.body.errors != [] if o.body else None)
                 for o in pool.run(Job(header="import Mathlib\n", body=b) for b in bodies)]
    w = CheckWorker(WorkerSetup(actor_config(cfg), limits, launch.lean_version, launch.manifest_hash))
    try:
        remote = []
        for b in bodies:
            out = w.check(Job(header="import Mathlib\n", body=b)).outcome
            assert out is not None
            remote.append((out.status, out.attempts, out.body.errors != [] if out.body else None))
    finally:
        w.shutdown()
    assert remote == local and local[2][:2] == ("crashed", 2)
    assert isinstance(w.worker, _Worker)


def test_an_actor_removes_the_files_of_dead_actors_only(tmp_path: Path, monkeypatch) -> None:
    import os
    import tempfile

    from bridge.scale.worker import private_tmp

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "bridge-actor-999999999-abc"  # above any pid_max: that actor is gone
    live = tmp_path / f"bridge-actor-{os.getpid()}-def"
    for d in (dead, live):
        (d / "sandbox").mkdir(parents=True)
        (d / "sandbox" / "escape").symlink_to(tmp_path / "outside")
    (tmp_path / "outside").write_text("not the actor's")
    mine = private_tmp("actor")
    try:
        assert not dead.exists() and live.exists() and (tmp_path / "outside").read_text() == "not the actor's"
        assert Path(mine.name).name.startswith(f"bridge-actor-{os.getpid()}-")
    finally:
        mine.cleanup()


def test_batches_share_the_waiting_work_and_budget_grows_with_a_call() -> None:
    assert policy.batch_size(0, 4, 8) == 0
    assert policy.batch_size(100, 4, 8) == 8  # plenty waiting: the most per call
    assert policy.batch_size(10, 4, 8) == 3  # the end of a run: every call with room gets a share
    assert policy.batch_size(3, 4, 8) == 1
    lim = PoolLimits(timeout=10, header_timeout=10)
    budget = policy.job_budget(lim)
    assert policy.straggling(100 + budget + 1, 100, None, 30, lim, jobs=1) is not None
    assert policy.straggling(100 + budget + 1, 100, None, 30, lim, jobs=3) is None  # three jobs: three budgets
    assert policy.after_loss(policy.LostJob(0, running=True)) == policy.RESUBMIT_ALONE
    assert policy.after_loss(policy.LostJob(1, running=True)) == policy.GIVE_UP
    assert policy.after_loss(policy.LostJob(0, running=False)) == policy.REQUEUE
