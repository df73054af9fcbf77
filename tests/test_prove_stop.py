"""`bridge prove` on the light install against a stand-in endpoint and the fake REPL: --stop-on-first,
Ctrl-C, growing a run's --samples, the progress bars, fast-gate verdicts, empty inputs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, fake_repl_cmd, repl_log
from tests.test_prove_support import FakeEndpoint, bridge, prove_args, rows


def _fails_first_two_and_succ_le(name: str, i: int) -> str:
    return "exact FAKE_ERROR" if i < 2 or name == "demo_succ_le" else "simp"


def test_stop_on_first_reports_budget_and_samples_to_first_proof(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    with FakeEndpoint(proof=_fails_first_two_and_succ_le) as ep:
        r = bridge(*prove_args(ep.url, rd, "--stop-on-first", samples=16))
    assert r.returncode == 0, r.stderr
    rep = json.loads((rd / "report.json").read_text())
    assert rep["mode"] == "stop-on-first"
    assert set(rep["pass_at_k"]) == {"1"}  # no pass@k for k > 1: problems stopped early have fewer samples
    sof = rep["stop_on_first"]
    assert sof["budget"] == 16 and sof["solved"] == 2 and sof["problems"] == 3
    assert abs(sof["solved_fraction"] - 2 / 3) < 1e-9
    assert sof["mean_samples_to_first_proof"] == 3.0  # samples 0 and 1 fail, sample 2 is the first proof
    assert abs(rep["pass_at_k"]["1"] - 1 / 3) < 1e-9  # first block of 4: 2/4, 2/4, 0/4
    per = dict(rows(rd, "SELECT problem_id, COUNT(*) FROM samples GROUP BY problem_id"))
    # the next block is drawn only once the previous one is verified: the solved problems stop at 4
    assert per == {"demo_add_zero": 4, "demo_two_add_two": 4, "demo_succ_le": 16}
    assert {p["id"]: p["samples_to_first_proof"] for p in rep["problems"]} == {
        "demo_add_zero": 3, "demo_two_add_two": 3, "demo_succ_le": None}
    assert "stop-on-first" in r.stdout and "pass@16" not in r.stdout and "not computable" in r.stdout
    md = (rd / "report.md").read_text()
    assert "stop-on-first" in md and "pass@16" not in md and "mean samples to first proof" in md
    for key in ("pass_at_k", "problems", "by_split", "by_band", "rounds", "model", "template", "sampling",
                "lean_version"):
        assert key in rep


def test_sigint_stops_generation_keeps_everything_and_rerun_redoes_nothing(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    with FakeEndpoint(delay=0.4, served="org/served") as ep:
        args = prove_args(ep.url, rd, limit=12, samples=4)
        slow = [a if a != fake_repl_cmd() else fake_repl_cmd(FAKE_REPL_BURN="0.5") for a in args]
        p = subprocess.Popen([sys.executable, "-m", "bridge", *slow], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.1)
            try:
                if (rd / "run.sqlite").is_file() and rows(rd, "SELECT COUNT(*) FROM verdicts")[0][0] >= 2:
                    break
            except Exception:  # noqa: BLE001 - the store is being created
                pass
        t_signal = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        took = time.time() - t_signal
        assert p.returncode == 130, err
        assert took < 10, f"took {took:.1f}s to stop"
        assert "stopped" in err and "Traceback" not in err
        # no new generation after the signal: at most the request the generator had already sent
        assert sum(1 for q in ep.requests if q.at > t_signal) <= 1
        answered_before = sum(q.n for q in ep.requests if q.answered is not None and q.answered < t_signal)
        samples_before = rows(rd, "SELECT id FROM samples")
        verdicts_before = rows(rd, "SELECT sample_id, verdict, created FROM verdicts")
        assert len(samples_before) >= answered_before  # every generated sample is in the store
        assert 2 <= len(verdicts_before) < 48
        assert {s for s, _, _ in verdicts_before} <= {s for (s,) in samples_before}

        asked_before = ep.asked()
        log = tmp_path / "repl.log"
        again = [a if a != fake_repl_cmd() else fake_repl_cmd(FAKE_REPL_LOG=str(log)) for a in args]
        r = bridge(*again, "--no-sandbox")  # the log is written outside the sandbox's one writable place
        assert r.returncode == 0, r.stderr
    # the rerun asked the model only for samples not stored, and checked only samples without a verdict
    assert ep.asked() - asked_before == 48 - len(samples_before)
    checked = [c for _, kind, c in repl_log(log) if kind == "cmd" and c.startswith("#print axioms")]
    assert len(checked) == 48 - len(verdicts_before)
    after = rows(rd, "SELECT sample_id, verdict, created FROM verdicts")
    assert len(after) == 48 == len({s for s, _, _ in after}) and set(verdicts_before) <= set(after)
    assert json.loads((rd / "report.json").read_text())["model"] == "org/served"


def test_more_samples_on_an_existing_run_adds_the_missing_ones(tmp_path: Path) -> None:
    rd = tmp_path / "run"
    with FakeEndpoint() as ep:
        assert bridge(*prove_args(ep.url, rd, samples=2)).returncode == 0
        first = ep.asked()
        r = bridge(*prove_args(ep.url, rd, samples=4))
        assert r.returncode == 0, r.stderr
        assert ep.asked() - first == 3 * 2 and all(q.n == 2 for q in ep.requests[-3:])
        idx = rows(rd, "SELECT problem_id, GROUP_CONCAT(idx) FROM samples GROUP BY problem_id")
        assert all(sorted(map(int, s.split(","))) == [0, 1, 2, 3] for _, s in idx)
        rep = json.loads((rd / "report.json").read_text())
        assert rep["samples"] == 4 and "4" in rep["pass_at_k"] and all(p["n"] == 4 for p in rep["problems"])
        # a smaller --samples asks for nothing and keeps what the run has
        before = ep.asked()
        assert bridge(*prove_args(ep.url, rd, samples=2)).returncode == 0
        assert ep.asked() == before and json.loads((rd / "report.json").read_text())["samples"] == 4
        # the other settings stay fixed
        r = bridge(*prove_args(ep.url, rd, "--temperature", "0.5", samples=8))
        assert r.returncode != 0 and "was made with sampling" in r.stderr


def test_progress_bars_for_generation_and_verification(tmp_path: Path) -> None:
    with FakeEndpoint() as ep:
        r = bridge(*prove_args(ep.url, tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"generated: 100%.*\b12/12\b", r.stderr), r.stderr
    assert re.search(r"verified: 100%.*\b12/12\b", r.stderr), r.stderr


def test_fast_gate_proofs_are_not_counted_unless_asked(tmp_path: Path) -> None:
    rd = tmp_path / "run"

    def proof(name: str, i: int) -> str:  # a stand-in REPL gives this one's `#print axioms` no answer
        return "simp -- FAKE_QUIET_AXIOMS" if name == "demo_add_zero" else "simp"

    with FakeEndpoint(proof=proof) as ep:
        r = bridge(*prove_args(ep.url, rd, "--allow-fast-gate", limit=2, samples=2))
    assert r.returncode == 0, r.stderr
    assert "1/2 problems solved" in r.stdout and "fast gate" in r.stderr
    rep = json.loads((rd / "report.json").read_text())
    assert rep["solved"] == 1 and rep["fast_gate"] == {"proved": 2, "counted": False}
    assert rep["pass_at_k"]["1"] == 0.5
    assert "fast gate" in (rd / "report.md").read_text()
    b = bridge("data", "bands", "demo", "--from-run", str(rd), "--json", "--cache-dir", str(tmp_path / "c"))
    assert json.loads(b.stdout)["demo_add_zero"] == "advanced"  # measured 0 of 2: not lean-formalized
    r = bridge("report", str(rd), "--count-fast-gate")
    assert r.returncode == 0, r.stderr
    rep = json.loads((rd / "report.json").read_text())
    assert rep["solved"] == 2 and rep["fast_gate"]["counted"] is True


def test_empty_inputs_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    r = bridge("prove", str(empty), "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
               "--repl-cmd", fake_repl_cmd(), "--run-dir", str(tmp_path / "r1"))
    assert r.returncode == 2 and "no problems" in r.stderr and "Traceback" not in r.stderr
    r = bridge("prove", "demo", "--split", "valid", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
               "--repl-cmd", fake_repl_cmd(), "--run-dir", str(tmp_path / "r2"))
    assert r.returncode == 2 and "no problems in split 'valid'" in r.stderr and "test" in r.stderr
    r = bridge("prove", "demo", "--limit", "0", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
               "--repl-cmd", fake_repl_cmd(), "--run-dir", str(tmp_path / "r3"))
    assert r.returncode == 2 and "--limit must be at least 1" in r.stderr
    assert not (tmp_path / "r3").exists()
