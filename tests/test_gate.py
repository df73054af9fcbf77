"""The gate fails closed, and one candidate cannot change another's verdict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bridge.verify.api import Verifier
from bridge.verify.candidate import from_code, from_parts
from tests.conftest import fake_repl_cmd, repl_log

STMT = "theorem t (x : Nat) : x = x := by\n"


def verdicts(cfg, cands) -> dict[str, tuple[str, str | None]]:
    with Verifier(cfg) as v:
        return {x.id: (x.verdict, x.rule) for x in v.verify(cands)}


@pytest.mark.parametrize("marker", ["FAKE_QUIET_AXIOMS", "FAKE_WRONG_CONST"])
def test_a_follow_up_that_is_empty_or_about_another_constant_is_rejected(fake_cfg, marker: str) -> None:
    cfg = fake_cfg(workers=1, sandbox=False)
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_parts("x", None, STMT, f"  rfl -- {marker}")]))
        assert v.stats.retried == 1  # checked again on a fresh worker first
    assert got.verdict == "rejected" and got.rule == "gate" and got.attempts == 2


def test_a_stand_in_that_is_not_lean_is_rejected_unless_the_fast_gate_is_asked_for(tmp_path: Path, fake_cfg) -> None:
    script = tmp_path / "env_only_repl.py"
    script.write_text(
        "import json, sys\nn = 0\nbuf = []\n"
        "for line in sys.stdin:\n"
        "    if line.strip():\n        buf.append(line); continue\n"
        "    if not buf: continue\n"
        "    buf = []\n    sys.stdout.write(json.dumps({'env': n}) + '\\n\\n'); sys.stdout.flush(); n += 1\n")
    import sys

    cfg = dataclasses.replace(fake_cfg(workers=1, sandbox=False), repl_cmd=f"{sys.executable} {script}")
    [strict] = verdicts(cfg, [from_parts("a", None, STMT, "  rfl")]).values()
    assert strict == ("rejected", "gate")
    with Verifier(dataclasses.replace(cfg, allow_fast_gate=True)) as v:
        [fast] = list(v.verify([from_parts("a", None, STMT, "  rfl")]))
        assert v.unchecked == 1
    assert fast.verdict == "proved" and fast.gate == "fast"


def _mixed() -> list:
    kinds = ["  rfl", "  exact FAKE_ERROR", "  simp -- FAKE_UNSOLVED", "  rfl -- FAKE_AXIOM", "  rfl -- FAKE_TYPE_DIFF"]
    return [from_parts(f"c{i}", None, STMT, kinds[i % len(kinds)] + f" -- {i}") for i in range(15)]


@pytest.mark.parametrize("marker", ["FAKE_TAKEOVER", "FAKE_TAKEOVER_LATER"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_candidate_that_takes_over_its_worker_changes_no_other_verdict(fake_cfg, marker: str, workers: int) -> None:
    cfg = fake_cfg(workers=workers, timeout=3.0, sandbox=False)
    honest = verdicts(cfg, _mixed())
    cands = _mixed()
    cands.insert(3, from_parts("attacker", None, STMT, f"  rfl -- {marker}"))
    cands.insert(9, from_parts("attacker2", None, STMT, f"  rfl -- {marker} again"))
    got = verdicts(dataclasses.replace(cfg, use_cache=False), cands)
    assert {k: v for k, v in got.items() if not k.startswith("attacker")} == honest
    if marker == "FAKE_TAKEOVER":  # it forged its own follow-up too: rejected, on a fresh worker as well
        assert got["attacker"] == ("rejected", "gate")


def test_a_rejected_candidate_s_worker_is_replaced(tmp_path: Path, fake_cfg) -> None:
    log = tmp_path / "log"
    cfg = fake_cfg(workers=1, sandbox=False, FAKE_REPL_LOG=str(log))
    cands = [from_parts("a", None, STMT, "  rfl -- first"), from_parts("cheat", None, STMT, "  rfl -- FAKE_AXIOM"),
             from_parts("b", None, STMT, "  rfl -- after")]
    got = verdicts(cfg, cands)
    assert got == {"a": ("proved", None), "cheat": ("rejected", "axioms"), "b": ("proved", None)}
    pid_of = {cmd.split("-- ")[-1]: pid for pid, kind, cmd in repl_log(log) if "-- " in cmd and kind == "cmd"}
    assert pid_of["first"] == pid_of["FAKE_AXIOM"] != pid_of["after"]


def test_reference_statements_come_from_a_process_that_runs_no_candidate_code(tmp_path: Path, fake_cfg) -> None:
    log = tmp_path / "log"
    cfg = fake_cfg(workers=2, sandbox=False, FAKE_REPL_LOG=str(log))
    cands = [from_parts(f"c{i}", None, f"theorem t{i % 3} (x : Nat) : x = x := by\n", f"  rfl -- {i}")
             for i in range(12)]
    got = verdicts(cfg, cands)
    assert all(v == ("proved", None) for v in got.values())
    entries = repl_log(log)
    ref_pids = {pid for pid, _, cmd in entries if cmd.rstrip().endswith(":= sorry")}
    body_pids = {pid for pid, _, cmd in entries if "-- " in cmd}
    assert len(ref_pids) == 1 and not ref_pids & body_pids
    assert sum(1 for _, _, cmd in entries if cmd.rstrip().endswith(":= sorry")) == 3  # once per problem


def test_free_form_code_gates_every_theorem_and_names_the_one_that_failed(fake_cfg) -> None:
    code = ("theorem first_helper : True := by\n  trivial -- FAKE_AXIOM_IN=first_helper\n\n"
            "theorem main_result (x : Nat) : x = x := by\n  rfl\n")
    cfg = fake_cfg(workers=1, sandbox=False)
    with Verifier(cfg) as v:
        [got] = list(v.verify([from_code("file", None, code)]))
    assert got.verdict == "rejected" and got.rule == "axioms" and "first_helper" in (got.reason or "")
    clean = code.replace(" -- FAKE_AXIOM_IN=first_helper", "")
    with Verifier(cfg) as v:
        [ok] = list(v.verify([from_code("file", None, clean)]))
    assert ok.verdict == "proved"


def test_cache_key_depends_on_every_setting_that_changes_a_verdict(fake_cfg) -> None:
    base = fake_cfg(workers=1, sandbox=False)
    c = from_parts("a", None, STMT, "  rfl")
    keys = set()
    for change in ({}, {"allow_native_decide": True}, {"allow_fast_gate": True}, {"max_heartbeats": 1000},
                   {"repl_cmd": fake_repl_cmd(FAKE_REPL_LEAN="4.9")}):
        with Verifier(dataclasses.replace(base, **change)) as v:
            keys.add(v.key(c))
    assert len(keys) == 5
    with Verifier(base) as v:
        v._sandboxed = True  # the same text verified sandboxed and unsandboxed is two cache entries
        assert v.key(c) not in keys


def test_no_process_is_left_after_close(fake_cfg) -> None:
    """Every REPL (and the sandbox around it) is gone once the Verifier is closed, a hung one included."""
    import os
    import time
    import uuid

    tag = uuid.uuid4().hex
    cfg = fake_cfg(workers=2, timeout=1.0, FAKE_REPL_TAG=tag)  # sandboxed where bubblewrap works
    cands = [from_parts(f"c{i}", None, STMT, f"  rfl -- {i}") for i in range(6)]
    cands.append(from_parts("hang", None, STMT, "  rfl -- FAKE_HANG"))
    with Verifier(cfg) as v:
        assert len(list(v.verify(cands))) == 7
    time.sleep(0.5)
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"FAKE_REPL_TAG={tag}".encode() in f.read():
                    left.append(pid)
        except OSError:
            continue
    assert left == []
