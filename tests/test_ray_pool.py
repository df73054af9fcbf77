"""The verification pool on a real (local) Ray cluster, with the fake REPL.

One cluster for the module: a head node (2 CPUs), a second node (1 CPU), and a third node (1 CPU) whose
PATH hides bubblewrap, so it must not be used. Every worker process of the job runs an audit hook that
records each file it opens for writing and each SQLite database it connects to: the result cache and
the run store must be written by the driver only.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: these tests need the `ray` extra "
                          '(pip install -e ".[ray]")')

from ray.cluster_utils import Cluster  # noqa: E402

from bridge.lean.sandbox import sandbox_available  # noqa: E402
from bridge.runs.store import RunStore  # noqa: E402
from bridge.scale import RayPool, ray_pool_for  # noqa: E402
from bridge.scale.nodes import cluster_report  # noqa: E402
from bridge.verify.api import Verifier  # noqa: E402
from bridge.verify.candidate import from_parts  # noqa: E402
from tests.conftest import FAKE_REPL  # noqa: E402

STMT = "theorem t (x : Nat) : x = x := by\n"
SANDBOX = sandbox_available()[0]
REPL_CMD = f"{sys.executable} {FAKE_REPL}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    audit = tmp_path_factory.mktemp("audit")

    def hook() -> None:  # runs in every Ray worker process of this job (not in the driver)
        import os as _os
        import sys as _sys

        log = str(audit / f"{_os.getpid()}.log")

        def record(event: str, args: tuple) -> None:
            if event == "sqlite3.connect":
                line = f"sqlite {args[0]}\n"
            elif event == "open" and not str(args[0]).startswith(str(audit)):
                mode, flags = args[1], args[2]
                writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT))
                if not writing:
                    return
                line = f"write {args[0]}\n"
            else:
                return
            fd = _os.open(log, _os.O_WRONLY | _os.O_APPEND | _os.O_CREAT, 0o600)
            try:
                _os.write(fd, line.encode())
            finally:
                _os.close(fd)

        _sys.addaudithook(record)

    # the third node's PATH: every program of /usr/bin but bubblewrap
    tools = tmp_path_factory.mktemp("no-bwrap-bin")
    for exe in Path("/usr/bin").iterdir():
        if exe.name != "bwrap":
            (tools / exe.name).symlink_to(exe)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    second = c.add_node(num_cpus=1)
    bare = c.add_node(num_cpus=1, env_vars={"PATH": str(tools)})
    ray.init(address=c.address, runtime_env={"worker_process_setup_hook": hook}, log_to_driver=False)
    try:
        yield {"cluster": c, "second": second, "bare": bare, "audit": audit}
    finally:
        ray.shutdown()
        c.shutdown()


def config(fake_cfg, timeout: float = 2.0, **kw):
    cfg = fake_cfg(workers=2, timeout=timeout, sandbox=SANDBOX)
    return dataclasses.replace(cfg, repl_cmd=REPL_CMD, **kw)


def run(cfg, cands, ray_on: bool, pools: list | None = None, on_verdict=None, **kw):
    with Verifier(cfg) as v:
        if ray_on:
            def make() -> RayPool:
                pool = ray_pool_for(v, **kw)
                if pools is not None:
                    pools.append(pool)
                return pool

            v._pool = make  # what Verifier._pool does under `ray = ADDRESS` (patches/api.diff)
        got = []
        for x in v.verify(cands):
            got.append(x)
            if on_verdict is not None:
                on_verdict(len(got))
        return got, v.stats


def essence(vs) -> dict:
    return {x.id: (x.verdict, x.rule, x.reason, x.messages, x.attempts, x.gate) for x in vs}


def mixed() -> list:
    proofs = {
        "proved": "  rfl", "failed": "  exact FAKE_ERROR", "incomplete": "  simp -- FAKE_UNSOLVED",
        "sorry": "  sorry", "hidden": "  rfl -- FAKE_HIDDEN_SORRY", "axiom": "  rfl -- FAKE_AXIOM",
        "typediff": "  rfl -- FAKE_TYPE_DIFF", "takeover": "  rfl -- FAKE_TAKEOVER",
        "crash": "  rfl -- FAKE_CRASH", "garbage": "  rfl -- FAKE_GARBAGE", "hang": "  rfl -- FAKE_HANG",
        "heartbeat": "  rfl -- FAKE_HEARTBEAT", "screened": "  native_decide",
    }
    cands = [from_parts(k, None, STMT, p) for k, p in proofs.items()]
    cands += [from_parts(f"h{i}", "import Mathlib.Tactic\n", STMT, f"  rfl -- {i}") for i in range(6)]
    cands += [from_parts(f"bad{i}", "import Nonexistent\n", STMT, "  rfl") for i in range(3)]
    cands += [from_parts(f"p{i}", None, STMT, f"  rfl -- {i % 4}") for i in range(12)]  # in-run duplicates
    return cands


def test_verdicts_equal_a_single_machine_run(cluster, fake_cfg) -> None:
    cfg = config(fake_cfg, use_cache=False)
    cands = mixed()
    local, _ = run(cfg, cands, ray_on=False)
    pools: list[RayPool] = []
    remote, stats = run(cfg, cands, ray_on=True, pools=pools)
    assert [x.id for x in remote].count("hang") == 1 and len(remote) == len(cands)
    assert essence(remote) == essence(local)
    assert {x.verdict for x in remote} >= {"proved", "failed", "incomplete", "rejected", "crashed", "timeout"}
    assert stats.retried >= 1  # the taken-over worker was replaced and its candidate checked again
    pool = pools[0]
    assert len(pool._slots) == 2 and all(s.node_id != cluster["bare"].node_id for s in pool._slots)
    assert any("bubblewrap" in why for why in pool.unused_nodes.values()) or not SANDBOX


def test_a_node_without_bubblewrap_is_reported_and_not_used(cluster, fake_cfg) -> None:
    cfg = config(fake_cfg)
    report = cluster_report(cfg, address=None)  # already connected: the test's cluster
    assert len(report.nodes) == 3
    unused = [n for n in report.nodes if not n.usable]
    if SANDBOX:
        assert len(unused) == 1 and "bubblewrap" in unused[0].why and report.usable_cpus == 3
        assert "NOT USED" in report.rows()[report.nodes.index(unused[0])][-1]
    assert json.loads(json.dumps(report.as_json()))["usable_cpus"] == report.usable_cpus
    # a pool asked for more actors than the usable CPUs starts what fits, none on that node
    pools: list[RayPool] = []
    with pytest.warns(UserWarning, match="not used"):
        got, _ = run(dataclasses.replace(cfg, workers=8), [from_parts(f"c{i}", None, STMT, "  rfl") for i in range(6)],
                     ray_on=True, pools=pools)
    assert len(got) == 6 and all(x.verdict == "proved" for x in got)
    assert len(pools[0]._slots) == (3 if SANDBOX else 4)
    assert {s.node_id for s in pools[0]._slots}.isdisjoint({n.node_id for n in unused})


def burning(n: int, seconds: float = 0.15) -> list:
    return [from_parts(f"c{i}", None, STMT, f"  rfl -- FAKE_BURN={seconds} {i}") for i in range(n)]


def one_each(got, n: int) -> None:
    ids = collections.Counter(x.id for x in got)
    assert len(ids) == n and set(ids.values()) == {1}, ids.most_common(3)
    assert all(x.verdict == "proved" for x in got), [(x.id, x.verdict, x.reason) for x in got if x.verdict != "proved"]


def _pids(pool: RayPool, index: int) -> dict:
    return ray.get(pool._slots[index].handle.pids.remote(), timeout=20)


def test_killing_an_actor_mid_run_loses_no_candidate(cluster, fake_cfg) -> None:
    pools: list[RayPool] = []

    def kill(n: int) -> None:
        if n == 4:
            ray.kill(pools[0]._slots[0].handle, no_restart=True)

    got, _ = run(config(fake_cfg, use_cache=False), burning(30), ray_on=True, pools=pools, on_verdict=kill)
    one_each(got, 30)
    assert pools[0].actors_lost == 1 and len(pools[0]._slots) == 3  # replaced once


def test_killing_an_actors_process_and_a_repl_loses_no_candidate(cluster, fake_cfg) -> None:
    pools: list[RayPool] = []

    def kill(n: int) -> None:
        if n == 3:
            os.kill(_pids(pools[0], 1)["repl"], signal.SIGKILL)  # a REPL: the actor's worker retries it
        if n == 8:
            os.kill(_pids(pools[0], 0)["actor"], signal.SIGKILL)  # the Ray worker process itself

    got, _ = run(config(fake_cfg, use_cache=False), burning(30), ray_on=True, pools=pools, on_verdict=kill)
    one_each(got, 30)
    assert pools[0].actors_lost == 1
    assert max(x.attempts for x in got) == 2  # the job whose REPL was killed, checked again on a fresh one


def test_a_frozen_actor_is_a_straggler_and_its_job_is_rerun(cluster, fake_cfg) -> None:
    pools: list[RayPool] = []
    frozen: list[int] = []

    def freeze(n: int) -> None:
        if n == 3:
            frozen.append(_pids(pools[0], 0)["actor"])
            os.kill(frozen[0], signal.SIGSTOP)  # alive but silent: no death for Ray to report

    try:
        t0 = time.monotonic()
        got, _ = run(config(fake_cfg, timeout=1.0, use_cache=False), burning(20), ray_on=True, pools=pools,
                     on_verdict=freeze, ping_timeout=2.0)
        one_each(got, 20)
        # every job of the call it was running goes alone to a fresh actor (which one ran is unknown)
        assert pools[0].actors_lost == 1 and 1 <= pools[0].resubmitted <= pools[0].batch
        assert time.monotonic() - t0 < 60
    finally:
        for pid in frozen:  # the test froze it: make sure it is gone (Ray kills it too, after a while)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_cache_and_run_store_are_written_only_by_the_driver(cluster, fake_cfg, tmp_path: Path) -> None:
    cfg = config(fake_cfg, cache_dir=tmp_path / "cache")
    run_dir = tmp_path / "run"
    cands = burning(12, 0.01)
    with RunStore(run_dir) as store:
        got, _ = run(cfg, cands, ray_on=True)
        for v in got:
            store.add_verdict(v.id, v)
    one_each(got, 12)
    again, stats = run(cfg, cands, ray_on=True)
    assert stats.cache_hits == 12 and all(x.cached for x in again)  # the driver's cache holds all of them
    with RunStore(run_dir) as store:
        assert len(store.db.execute("SELECT * FROM verdicts").fetchall()) == 12
    written = []
    for log in cluster["audit"].glob("*.log"):
        written += log.read_text().splitlines()
    assert written, "the audit hook recorded nothing: did it run in the actors?"
    ours = [w for w in written if str(tmp_path) in w or w.startswith("sqlite")]
    assert ours == [], ours[:5]


def test_stop_and_an_early_consumer_keep_every_verdict_given(cluster, fake_cfg) -> None:
    """Ctrl-C (Verifier.stop): no more input is read, checks in flight get the grace, every verdict given
    is real; a consumer that stops reading ends the run too, and no actor outlives either."""
    cands = burning(40, 0.2)
    with Verifier(config(fake_cfg, use_cache=False)) as v:
        pools: list[RayPool] = []
        v._pool = lambda: pools.append(ray_pool_for(v)) or pools[-1]
        got = []
        t0 = time.monotonic()
        for x in v.verify(cands):
            got.append(x)
            if len(got) == 3:
                v.stop(grace=1.0)
        assert 3 <= len(got) < 40 and all(x.verdict == "proved" for x in got)
        assert len({x.id for x in got}) == len(got) and time.monotonic() - t0 < 30
    with Verifier(config(fake_cfg, use_cache=False)) as v:
        v._pool = lambda: pools.append(ray_pool_for(v)) or pools[-1]
        it = v.verify(cands)
        first = [next(it) for _ in range(2)]
        it.close()
    assert len(first) == 2
    for h in [s.handle for p in pools for s in p._slots]:
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(h.ready.remote(), timeout=30)


def test_a_dead_node_loses_no_candidate(cluster, fake_cfg) -> None:
    """Runs last: it takes the second node away."""
    pools: list[RayPool] = []
    second = cluster["second"]

    def drop_node(n: int) -> None:
        if n == 4:
            assert any(s.node_id == second.node_id for s in pools[0]._slots if s.alive)
            cluster["cluster"].remove_node(second, allow_graceful=False)

    # 3 actors: every usable CPU, so one is on the second node (a replacement placed there before Ray
    # has noticed the node is gone fails to start, and is itself replaced or given up)
    got, _ = run(config(fake_cfg, use_cache=False, workers=3), burning(24), ray_on=True, pools=pools,
                 on_verdict=drop_node, ping_timeout=3.0)
    one_each(got, 24)
    assert pools[0].actors_lost >= 1
    assert all(s.node_id != second.node_id for s in pools[0]._slots if s.alive)
