"""`bridge replay RUN_DIR`: a fresh run's accepted proofs verify again with 0 differences; a stored proof altered
by hand is named and the exit code is 1; the run's provenance record says what changed since. Against the
stand-in endpoint and the fake REPL (tests/fakes/fake_repl.py) with the fast gate allowed, as the prove tests
run; the row files (synthetic.jsonl, proved.jsonl) are read too."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from bridge.runs.replay import Accepted, accepted_proofs, compare, differs
from bridge.verify.verdict import Verdict
from tests.conftest import fake_repl_cmd
from tests.test_prove_support import FakeEndpoint, bridge, prove_args


def _proof(name: str, i: int) -> str:
    # one fast-gate proof (its `#print axioms` gets no answer), full-gate ones, and failures
    if name == "demo_add_zero":
        return "simp -- FAKE_QUIET_AXIOMS" if i == 0 else "exact FAKE_ERROR"
    return "simp" if i == 0 else "exact FAKE_ERROR"


def replay(run_dir: Path, *extra: str):
    return bridge("replay", str(run_dir), "--repl-cmd", fake_repl_cmd(), "--no-cache", "--workers", "1",
                  "--allow-fast-gate", *extra)


def make_run(tmp_path: Path) -> Path:
    rd = tmp_path / "run"
    with FakeEndpoint(proof=_proof) as ep:
        r = bridge(*prove_args(ep.url, rd, "--allow-fast-gate", limit=3, samples=2))
    assert r.returncode == 0, r.stderr
    return rd


def test_replay_of_a_fresh_run_then_of_an_altered_proof(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    prov = json.loads((rd / "provenance.json").read_text(encoding="utf-8"))
    assert {"bridge_version", "lean_version", "lake_manifest_hash", "screen_rules_hash"} <= set(prov)
    assert prov["fast_gate"] is True and prov["strict"] is False
    found = accepted_proofs(rd)
    assert sorted(a.id for a in found) == ["demo_add_zero/0/0", "demo_succ_le/0/0", "demo_two_add_two/0/0"]
    assert {a.id: a.gate for a in found}["demo_add_zero/0/0"] == "fast"

    r = replay(rd)
    assert r.returncode == 0, r.stderr
    assert "3 accepted proof(s) verified again: 0 verdict(s) differ" in r.stdout
    out = json.loads((rd / "replay.json").read_text(encoding="utf-8"))
    assert out["checked"] == 3 and out["differences"] == [] and out["provenance"]["changed"] == []

    # one stored proof altered by hand: named, exit 1; the record now says the rules changed too
    db = sqlite3.connect(rd / "run.sqlite")
    db.execute("UPDATE samples SET body = replace(body, 'simp', 'exact FAKE_ERROR') WHERE id = 'demo_succ_le/0/0'")
    db.commit()
    db.close()
    prov["screen_rules_hash"] = "0123456789abcdef"
    (rd / "provenance.json").write_text(json.dumps(prov), encoding="utf-8")
    r = replay(rd)
    assert r.returncode == 1, r.stderr
    assert "demo_succ_le/0/0" in r.stderr and "1 verdict(s) differ" in r.stdout
    assert "screen_rules_hash: 0123456789abcdef ->" in r.stderr
    out = json.loads((rd / "replay.json").read_text(encoding="utf-8"))
    assert [(d["source"], d["id"], d["stored"], d["now"].split(" ")[0]) for d in out["differences"]] == [
        ("run.sqlite", "demo_succ_le/0/0", "proved (full gate)", "failed")]
    assert out["provenance"]["changed"][0].startswith("screen_rules_hash: 0123456789abcdef -> ")


def test_row_files_under_a_run_directory_are_replayed(tmp_path: Path) -> None:
    rd = make_run(tmp_path)
    outer = tmp_path / "pipeline"
    shutil.copytree(rd, outer / "prove")
    header = "import Init\n"
    rows = [{"name": "syn_ok", "header": header, "formal_statement": "theorem syn_ok : 1 + 1 = 2 := by\n",
             "proof": "  simp", "provenance": {"verified": {"verdict": "proved", "gate": "full"}}},
            {"name": "syn_bad", "header": header, "formal_statement": "theorem syn_bad : 1 + 1 = 2 := by\n",
             "proof": "  exact FAKE_ERROR", "provenance": {"verified": {"verdict": "proved", "gate": "full"}}},
            {"prompt": "an informal row", "completion": "is skipped", "band": "simple"}]
    (outer / "synth").mkdir()
    (outer / "synth" / "synthetic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    found = accepted_proofs(outer)
    assert sorted(a.key for a in found) == sorted(
        ["prove/run.sqlite::demo_add_zero/0/0", "prove/run.sqlite::demo_succ_le/0/0",
         "prove/run.sqlite::demo_two_add_two/0/0", "synth/synthetic.jsonl::syn_ok", "synth/synthetic.jsonl::syn_bad"])
    r = replay(outer)
    assert r.returncode == 1, r.stderr
    out = json.loads((outer / "replay.json").read_text(encoding="utf-8"))
    assert [(d["source"], d["id"]) for d in out["differences"]] == [("synth/synthetic.jsonl", "syn_bad")]
    assert out["provenance"]["then"]["lean_version"]  # the nested run's record


def test_what_counts_as_a_difference() -> None:
    a = Accepted("run.sqlite", "p/0/0", "import Init\n", "theorem p : True := by\n", "theorem p : True := by\n  trivial")
    assert not differs(a, Verdict(id="k", verdict="proved"))
    assert differs(a, Verdict(id="k", verdict="proved", gate="fast"))  # a full-gate proof now only fast
    assert differs(a, Verdict(id="k", verdict="failed", reason="no"))
    assert differs(a, Verdict(id="k", verdict="proved", checker="stand-in"))  # Lean's proof, now a stand-in's
    fast = Accepted("run.sqlite", "p/0/1", "", "", "x", gate="fast")
    assert not differs(fast, Verdict(id="k", verdict="proved", gate="fast"))
    diffs, unchecked = compare([a, fast], {a.key: Verdict(id=a.key, verdict="timeout", reason="slow")})
    assert [d.id for d in diffs] == ["p/0/0"] and unchecked == [fast.key]


def test_rl_reward_logs_are_read(tmp_path: Path) -> None:
    """`rl grpo`'s rewards.jsonl: the completions judged proved, with the texts the reward logs for them."""
    stmt = "theorem t : 1 + 1 = 2 := by\n"
    lines = [{"call": 1, "step": 0, "stats": {}},
             {"call": 1, "step": 0, "id": "c0", "verdict": "proved", "gate": "full", "header": "import Init\n",
              "statement": stmt, "body": stmt + "  simp"},
             {"call": 1, "step": 0, "id": "c1", "verdict": "failed", "gate": "full"}]
    (tmp_path / "rewards.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    [a] = accepted_proofs(tmp_path)
    assert (a.key, a.statement, a.body) == ("rewards.jsonl::1:c0", stmt, stmt + "  simp")
    c = a.candidate()
    assert (c.statement, c.proof, c.name) == (stmt, "  simp", "t")


def test_not_a_directory_is_one_line(tmp_path: Path) -> None:
    r = bridge("replay", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "no such directory" in r.stderr and "Traceback" not in r.stderr
