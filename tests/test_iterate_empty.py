"""`bridge iterate` with rounds that have nothing to train on (issue 26): a pool that decontamination
empties completes its rounds with exit 0, records each with 0 rows and why, evaluates, and a rerun
resumes without redoing anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.train.iterate import no_training_reason
from tests.conftest import ROOT, data_dir
from tests.test_iterate import fingerprint
from tests.test_train_support import build_word_model, standin_cmd


def test_no_training_reason_names_the_cause() -> None:
    assert no_training_reason(3, 3, 0, 2, 0, 3, 5, None) is None
    assert "no proof was accepted" in no_training_reason(0, 0, 0, 0, 0, 0, 0, None)
    assert "decontamination" in no_training_reason(6, 4, 2, 2, 0, 0, 0, None)
    assert "strict re-check rejected" in no_training_reason(6, 4, 0, 2, 4, 0, 0, None)
    why = no_training_reason(0, 0, 0, 0, 0, 0, 0, {"used": False, "why": "--train-on new: in round 1 only"})
    assert "--train-on new" in why


def test_a_pool_that_decontamination_empties_completes_its_rounds(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    shared = data_dir()
    if shared is None:
        pytest.skip("no data directory (BRIDGE_DATA_DIR): the pool is miniF2F valid problems")
    rows = [json.loads(x) for x in (shared / "minif2f" / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()]
    pool = tmp_path / "pool.jsonl"
    # six miniF2F valid problems as a training pool: the default --decontam (minif2f,proofnet) drops them all
    valid = [r for r in rows if r["split"] == "valid"][:6]
    pool.write_text("".join(json.dumps({**r, "split": "train"}, ensure_ascii=False) + "\n" for r in valid),
                    encoding="utf-8")
    model = build_word_model(tmp_path / "model")
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_DATA_DIR=str(shared), XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    argv = [sys.executable, "-m", "bridge", "iterate", str(pool), "--model", str(model), "--rounds", "2",
            "--samples", "2", "--run-dir", str(run_dir), "--template", "deepseek-v1.5", "--max-tokens", "8",
            "--device", "cpu", "--eval", "demo", "--eval-samples", "1", "--eval-limit", "1",
            "--repl-cmd", standin_cmd(tmp_path), "--no-sandbox", "--no-cache", "--workers", "1", "--canaries", "1",
            "--max-steps", "2", "--warmup", "0", "--max-length", "256"]
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    rounds = json.loads((run_dir / "rounds.json").read_text())
    assert rounds, r.stderr[-2000:]
    for rd in rounds:
        k = rd["round"]
        data = json.loads((run_dir / f"round-{k}" / "data.json").read_text())
        assert rd["training_rows"] == 0 and rd["trained"] is False and rd["no_training_reason"]
        assert data["rows"] == 0 and data["no_training_reason"] == rd["no_training_reason"]
        if data["verified_proofs"]:
            assert "decontamination" in rd["no_training_reason"]
            assert len(data["decontamination"]["matches"]) == len(data["decontamination"]["dropped_statements"]) > 0
            assert all(m["against"] == "minif2f" and m["against_id"] == m["problem_id"]
                       for m in data["decontamination"]["matches"])
        assert not (run_dir / f"round-{k}" / "train").exists()
        assert rd["adapter"] is None  # no adapter to carry forward (none was given)
        assert rd["heldout"] is not None  # evaluated as asked
        summary = json.loads((run_dir / f"round-{k}" / "training_summary.json").read_text())
        assert summary["trained"] is False and summary["reason"] == rd["no_training_reason"]
    assert any(json.loads((run_dir / f"round-{rd['round']}" / "data.json").read_text())["verified_proofs"]
               for rd in rounds), "the stand-in accepted nothing: the case under test did not happen"
    assert "no training rows" in (run_dir / "rounds.md").read_text()
    before = fingerprint(run_dir)
    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr[-3000:]
    after = fingerprint(run_dir)
    changed = {f for f in set(before) | set(after) if before.get(f) != after.get(f)}
    assert changed <= {"iterate.json", "rounds.png"}, changed  # resumed: nothing done again
