"""The pool under faults: crashes, hangs, garbage, floods. Every candidate gets exactly one verdict."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.lean.pool import Job, Pool, PoolLimits
from bridge.lean.protocol import Command
from bridge.lean.repl import Repl, ReplFault
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_parts
from tests.conftest import FAKE_REPL, repl_log

STMT = "theorem t (x : Nat) : x = x := by\n"


def test_thousand_candidates_crash_every_50_hang_1_percent(fake_cfg) -> None:
    """1,000 candidates; the fake exits after every 50 requests and hangs on 1 % of candidates."""
    cfg = fake_cfg(workers=4, timeout=1.0, sandbox=False, FAKE_REPL_EXIT_AFTER="50")
    cands, expect = [], {}
    for i in range(1000):
        kind = i % 10
        if i % 100 == 7:
            proof, want = f"  rfl -- FAKE_HANG {i}", "timeout"
        elif kind in (1, 2):
            proof, want = f"  exact FAKE_ERROR -- {i}", "failed"
        elif kind == 3:
            proof, want = f"  simp -- FAKE_UNSOLVED {i}", "incomplete"
        else:
            proof, want = f"  rfl -- {i}", "proved"
        cands.append(from_parts(f"c{i}", None, STMT, proof))
        expect[f"c{i}"] = want
    with Verifier(cfg) as v:
        got = list(v.verify(cands))
    ids = [x.id for x in got]
    assert len(ids) == 1000 and len(set(ids)) == 1000
    wrong = [(x.id, x.verdict, expect[x.id], x.reason) for x in got if x.verdict != expect[x.id]]
    assert not wrong, wrong[:5]
    hung = [x for x in got if x.verdict == "timeout"]
    assert len(hung) == 10 and all(x.attempts == 2 for x in hung)


def test_faults_each_get_one_retry_then_a_verdict(fake_cfg) -> None:
    cfg = fake_cfg(workers=2, timeout=2.0)
    cases = {
        "crash": ("FAKE_CRASH", "crashed"), "garbage": ("FAKE_GARBAGE", "crashed"), "half": ("FAKE_HALF", "crashed"),
        "nonutf8": ("FAKE_NONUTF8", "crashed"), "forge": ("FAKE_FORGE", "crashed"), "hang": ("FAKE_HANG", "timeout"),
        "flood": ("FAKE_STDERR_FLOOD", "proved"), "heartbeat": ("FAKE_HEARTBEAT", "failed"),
    }
    cands = [from_parts(k, None, STMT, f"  rfl -- {m}") for k, (m, _) in cases.items()]
    with Verifier(cfg) as v:
        got = {x.id: x for x in v.verify(cands)}
    for k, (_, want) in cases.items():
        assert got[k].verdict == want, (k, got[k].reason)
        if want in ("crashed", "timeout"):
            assert got[k].attempts == 2 and got[k].reason
    assert "heartbeat" in got["heartbeat"].reason
    assert "non-UTF-8" in got["nonutf8"].reason
    assert "exit status 1" in (got["crash"].evidence or "")


def test_lean_heartbeats_differ_from_wall_clock_timeout(fake_cfg) -> None:
    with Verifier(fake_cfg(timeout=1.0, sandbox=False)) as v:
        got = {x.id: x for x in v.verify([from_parts("hb", None, STMT, "  rfl -- FAKE_HEARTBEAT"),
                                           from_parts("wc", None, STMT, "  rfl -- FAKE_HANG")])}
    assert got["hb"].verdict == "failed" and got["wc"].verdict == "timeout"


def test_header_elaborated_once_per_worker_and_affinity(tmp_path: Path, fake_cfg) -> None:
    log = tmp_path / "log"
    cfg = fake_cfg(workers=2, sandbox=False, FAKE_REPL_LOG=str(log))
    headers = ["import Mathlib\n", "import Mathlib.Tactic\n"]
    cands = [from_parts(f"c{i}", headers[i % 2], STMT, f"  rfl -- {i}") for i in range(60)]
    with Verifier(cfg) as v:
        got = list(v.verify(cands))
    assert len(got) == 60 and all(x.verdict == "proved" for x in got)
    entries = repl_log(log)
    ref_pids = {pid for pid, _, cmd in entries if cmd.rstrip().endswith(":= sorry")}  # the reference process
    header_loads = [k for pid, k, _ in entries if pid not in ref_pids].count("header")
    # two headers, two workers: each header imported on as few workers as possible (never per candidate);
    # `import Mathlib.Tactic` is a different header from `import Mathlib`, never widened to it
    assert 2 <= header_loads <= 4


def test_broken_header_is_one_setup_error(fake_cfg, tmp_path: Path) -> None:
    log = tmp_path / "log"
    cfg = fake_cfg(workers=2, sandbox=False, FAKE_REPL_LOG=str(log))
    cands = [from_parts(f"c{i}", "import Nonexistent\n", STMT, f"  rfl -- {i}") for i in range(50)]
    with Verifier(cfg) as v:
        got = list(v.verify(cands))
        assert len(v.setup_errors) == 1 and "Nonexistent" in next(iter(v.setup_errors.values()))
    assert all(x.verdict == "crashed" and x.rule == "setup" for x in got)
    # the header was tried once or twice (one per worker at most), not once per candidate
    assert [k for _, k, _ in repl_log(log)].count("header") <= 2


def test_recycling_after_k_requests() -> None:
    started = []

    def factory() -> Repl:
        r = Repl([sys.executable, str(FAKE_REPL)])
        started.append(r)
        return r

    limits = PoolLimits(timeout=5, header_timeout=5, recycle_after=10)
    with Pool(factory, workers=1, limits=limits) as pool:
        outs = list(pool.run(Job(header="import Mathlib\n", body=f"theorem t{i} : True := trivial") for i in range(40)))
    assert len(outs) == 40 and all(o.status == "ok" for o in outs)
    assert len(started) >= 4  # 40 bodies + headers at most 10 requests per process


def test_memory_ceiling_kills_the_worker() -> None:
    r = Repl([sys.executable, "-c", "import time; x = bytearray(300 * 2**20); time.sleep(60)"], memory_limit_mb=100)
    r.start()
    with pytest.raises(ReplFault) as e:
        r.send(Command(cmd="import Mathlib"), timeout=20)
    assert e.value.kind == "memory"
    r.kill()


def test_env_the_repl_did_not_announce_is_refused() -> None:
    script = "import sys\nfor l in sys.stdin:\n    if l.strip():\n        print('{\"env\": 5}\\n', flush=True)\n"
    r = Repl([sys.executable, "-c", script])
    r.start()
    with pytest.raises(ReplFault) as e:
        r.send(Command(cmd="theorem x : True := trivial"), timeout=5)
    assert e.value.kind == "protocol" and "env 5" in e.value.detail
    r.kill()


def _live_members(pgid: int) -> list[int]:
    live = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(d.name))
    return live


def test_kill_reaches_only_its_own_process_group() -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        r = Repl([sys.executable, "-c", "import subprocess, sys, time; "
                  "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); time.sleep(30)"])
        r.start()
        time.sleep(0.5)
        pgid = r.pid
        r.kill()
        time.sleep(0.2)
        assert _live_members(pgid) == []  # the REPL and its child are gone (zombies aside)
        assert bystander.poll() is None  # a process we did not start is untouched
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()


def test_a_one_megabyte_proof_is_sent_whole(fake_cfg) -> None:
    proof = "  rfl\n" + "-- padding\n" * 90_000
    with Verifier(fake_cfg(sandbox=False)) as v:
        [got] = list(v.verify([from_parts("big", None, STMT, proof)]))
    assert got.verdict == "proved"


def test_streaming_results_come_as_they_finish(fake_cfg) -> None:
    cands = [from_parts("slow", None, STMT, "  rfl -- FAKE_BURN=1.5")] + [
        from_parts(f"f{i}", None, STMT, f"  rfl -- {i}") for i in range(5)]
    with Verifier(fake_cfg(workers=2, sandbox=False)) as v:
        order = [x.id for x in v.verify(cands)]
    assert order[-1] == "slow" and collections.Counter(order)["slow"] == 1


def test_consumer_stopping_early_stops_reading_input(fake_cfg) -> None:
    read = []

    def cands():
        for i in range(10_000):
            read.append(i)
            yield from_parts(f"c{i}", None, STMT, f"  rfl -- {i}")

    cfg = fake_cfg(workers=2, sandbox=False)
    cfg.queue_size = 8
    with Verifier(cfg) as v:
        it = v.verify(cands())
        first = [next(it) for _ in range(3)]
        it.close()
    assert len(first) == 3 and len(read) < 100  # the feeder stopped instead of draining all 10,000


def test_identical_candidates_are_checked_once_with_and_without_cache(fake_cfg, tmp_path: Path) -> None:
    import dataclasses

    cands = [from_parts(f"s{i}", None, STMT, f"  rfl -- variant {i % 3}") for i in range(30)]
    for use_cache in (False, True):
        cfg = dataclasses.replace(fake_cfg(sandbox=False), use_cache=use_cache, cache_dir=tmp_path / "c")
        with Verifier(cfg) as v:
            got = list(v.verify(cands))
            assert len(got) == 30 and {x.id for x in got} == {c.id for c in cands}
            assert v.stats.lean_checked == 3 and all(x.verdict == "proved" for x in got)
    with Verifier(dataclasses.replace(fake_cfg(sandbox=False), cache_dir=tmp_path / "c")) as v:
        list(v.verify(cands))
        assert v.stats.lean_checked == 0 and v.stats.cache_hits == 30  # a warm cache: nothing reaches Lean


def test_verify_all_returns_input_order(fake_cfg) -> None:
    cands = [from_parts("slow", None, STMT, "  rfl -- FAKE_BURN=0.5")] + [
        from_parts(f"f{i}", None, STMT, f"  rfl -- {i}") for i in range(4)]
    with Verifier(fake_cfg(workers=2, sandbox=False)) as v:
        assert [x.id for x in v.verify_all(cands)] == [c.id for c in cands]
