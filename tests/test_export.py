"""`bridge export RUN_DIR`: verified proofs (or every sample) as JSONL, to a file or standard output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bridge.cli.export import split_body
from tests.conftest import ROOT
from tests.test_report import FAST, OK, fail, make_run


def export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "export", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_export_proved_and_all(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "run", {
        ("a", "test", "simple"): [OK, fail(2), OK],
        ("b", "valid", "simple"): [fail(1), FAST, None],
    }, samples=3, served_model="served/model")
    r = export(str(rd), "--proved")
    assert r.returncode == 0, r.stderr
    proved = [json.loads(x) for x in r.stdout.splitlines()]
    assert [p["sample_id"] for p in proved] == ["a/0/0", "a/0/2"]  # the fast-gate proof is not a verified one
    row = proved[0]
    assert row["problem_id"] == "a" and row["split"] == "test" and row["header"] == "import Mathlib\n"
    assert row["formal_statement"] == "theorem a : True := by\n" and row["proof"] == "  trivial -- 0"
    assert row["code"] == row["formal_statement"] + row["proof"] and row["helpers"] == ""
    assert row["model"] == "served/model" and row["verdict"] == "proved" and row["gate"] == "full"
    assert "exported 2 verified proof(s)" in r.stderr

    out = tmp_path / "all.jsonl"
    r = export(str(rd), "--all", "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    every = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(every) == 6
    by_id = {x["sample_id"]: x for x in every}
    assert by_id["a/0/1"]["verdict"] == "failed" and "line 2" in by_id["a/0/1"]["reason"]
    assert by_id["b/0/1"]["gate"] == "fast" and by_id["b/0/2"]["verdict"] is None  # generated, not verified

    r = export(str(rd), "--proved", "--count-fast-gate")
    assert [json.loads(x)["sample_id"] for x in r.stdout.splitlines()] == ["a/0/0", "a/0/2", "b/0/1"]
    r = export(str(tmp_path / "nothing"), "--proved")
    assert r.returncode == 2 and "not a run directory" in r.stderr
    r = export(str(rd))
    assert r.returncode == 2  # --proved or --all


def test_split_body_keeps_helpers_apart() -> None:
    stmt = "theorem t (n : ℕ) : n = n := by\n"
    assert split_body("lemma h : True := trivial\n" + stmt + "  rfl", stmt) == ("lemma h : True := trivial\n", "  rfl")
    # a chat model's restated theorem gets the reference signature (up to `:=`) put back
    assert split_body("theorem t (n : ℕ) : n = n := by rfl", stmt) == ("", " by rfl")
    assert split_body("something else", stmt) == ("", "something else")
