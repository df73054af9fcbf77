"""`bridge pipeline`: informal problems -> solve -> formalize -> prove -> synth -> training rows, against a
stand-in endpoint whose every answer is planned (solver, formalizer, back-translator, judge, prover) and the
REPL stand-in of the funnel tests (tests/fakes/fake_formal_repl.py). Every stage's count is the plan's; a
SIGKILL of the command mid-run at a chosen stage, then the same command again, gives the same final counts;
`bridge replay` of the finished run finds no difference."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provers.formalize.funnel import _seed as funnel_seed
from provers.pipeline import _seed as sample_seed
from tests.conftest import ROOT
from tests.fakes.fake_model_server import FakeModelServer
from tests.test_formalize import repl_cmd

HAVE_PROOF = "\n  have h2 : x + 3 = 2 + 3 := by\n    rw [h]\n  exact h2\n```"
FAIL = "\n  exact Real.frobnicate\n```"
# id -> (problem, answer, level, solver answers, formalizer answers, prover answers (by the survivor's index))
PLAN: dict[str, tuple[str, str, int, list[str], list[str], list[str]]] = {
    "P1": ("What is x + 3 when x = 2?", "5", 1, ["so \\boxed{5}"] * 4,
           ["theorem P1 (x : ℕ) (h : x = 2) : x + 3 = 5 := by sorry", "NO-BLOCK"], [HAVE_PROOF, FAIL]),
    "P2": ("Find y if 2 y = 8.", "4", 3, ["\\boxed{4}", "\\boxed{3}", "\\boxed{3}", "\\boxed{3}"],
           ["theorem P2 (y : ℕ) (h : 2 * y = 8) : y = 4 := by sorry",
            "theorem P2 (y : ℕ) (h : Real.frobnicate y) : y = 4 := by sorry"], [FAIL, FAIL]),
    "P3": ("Show that n + 0 = n for every positive natural number n.", "proof", 5, ["\\boxed{1}", "no idea"] * 2,
           ["theorem P3 (n : ℕ) (h : 0 < n) : n + 0 = n := by sorry",
            "theorem P3 (m : ℕ) (h : 0 < m) : m + 0 = m := by sorry"], ["\n  simp\n```", FAIL]),
    "P4": ("Compute 7 times 8.", "56", 2, ["\\boxed{56}"] * 4,
           ["theorem P4 : (7 : ℕ) * 8 = 54 := by sorry",
            "theorem P4 (x : ℕ) (h₀ : 2 + 2 = 5) : x = 56 := by sorry"], []),
}
# what the plan gives, stage by stage: (in, out)
EXPECTED = {"solve": (4, 3), "formalize": (4, 3), "prove": (3, 2), "synth": (2, 1), "train": (6, 6)}
SLOW: dict[str, float] = {}  # prompt kind -> seconds the stand-in waits (to kill a run mid-stage)


def respond(prompt: str, i: int, seed: int = 0) -> str:
    if "Back-translation of the formalization" in prompt:
        return "Both say the same.\nYES"
    if "Translate the following" in prompt:
        return "The statement, in words."
    if prompt.startswith("Complete the following Lean 4 code"):
        time.sleep(SLOW.get("prove", 0.0))
        for pid, (*_, proofs) in PLAN.items():
            if f"theorem {pid} (" in prompt:
                sid = f"{pid}__f0"
                return proofs[(i + seed - sample_seed(0, sid, 0, 0)) % len(proofs)]
        return FAIL
    for pid, (problem, _answer, _level, solutions, forms, _) in PLAN.items():
        if problem not in prompt:
            continue
        if "\\boxed{}" in prompt:  # the solver's prompt
            time.sleep(SLOW.get("solve", 0.0))
            return solutions[(i + seed - sample_seed(0, pid, 0, 0)) % len(solutions)]
        a = forms[(i + seed - funnel_seed(0, pid)) % len(forms)]
        if a == "NO-BLOCK":
            return "I cannot formalize this."
        return f"Here it is:\n```lean4\nimport Mathlib\n\n{a}\n```"
    return "unexpected prompt"


def write_input(tmp: Path) -> Path:
    path = tmp / "problems.jsonl"
    path.write_text("".join(json.dumps({"id": pid, "problem": p, "answer": a, "level": lvl, "source": "planted"}) + "\n"
                            for pid, (p, a, lvl, *_) in PLAN.items()), encoding="utf-8")
    return path


def pipeline_argv(url: str, inp: Path, run_dir: Path, repl: str | None = None) -> list[str]:
    return ["pipeline", str(inp), "--run-dir", str(run_dir), "--endpoint", url, "--solver-model", "m",
            "--solve-samples", "4", "--candidates", "2", "--proofs", "2", "--votes", "1", "--decontam", "none",
            "--synth-methods", "have-lift", "--set", "solve.grade_workers=1",
            "--repl-cmd", repl or repl_cmd(), "--no-cache", "--workers", "2", "--timeout", "20"]


def run_pipeline(argv: list[str]) -> int:
    from bridge.cli import pipeline

    p = argparse.ArgumentParser()
    pipeline.add_parser(p.add_subparsers())
    a = p.parse_args(argv)
    return a.func(a)


def counts(run_dir: Path) -> dict[str, tuple[int, int]]:
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return {s["stage"]: (s["in"], s["out"]) for s in report["stages"]}


@pytest.fixture
def server(tmp_path: Path):
    SLOW.clear()
    with FakeModelServer(respond) as srv:
        yield srv, write_input(tmp_path)


def test_every_stage_count_is_the_plan(server, tmp_path: Path) -> None:
    srv, inp = server
    rd = tmp_path / "run"
    assert run_pipeline(pipeline_argv(srv.url, inp, rd)) == 0
    assert counts(rd) == EXPECTED
    report = json.loads((rd / "report.json").read_text(encoding="utf-8"))
    s2l = report["simple_to_lean"]
    assert (s2l["informal_problems"], s2l["reached_lean"], s2l["solved_informally"]) == (4, 2, 3)
    assert (s2l["both"], s2l["informal_only"], s2l["formal_only"], s2l["neither"]) == (1, 2, 1, 0)
    train = next(s for s in report["stages"] if s["stage"] == "train")
    assert train["by_band"] == {"intermediate": 1, "lean-formalized": 3, "simple": 2}
    # every stage's own outputs, where its command puts them
    for path in ("solve/report.json", "solve/rft.jsonl", "formalize/formalized.jsonl", "formalize/proved.jsonl",
                 "formalize/report.json", "prove/report.json", "prove/run.sqlite", "synth/synthetic.jsonl",
                 "synth/report.json", "train.jsonl", "train_informal.jsonl", "train_lean.jsonl", "report.md",
                 "provenance.json", "pipeline.json"):
        assert (rd / path).is_file(), path
    solve = json.loads((rd / "solve" / "report.json").read_text(encoding="utf-8"))
    assert solve["maj_at_k"]["4"] == pytest.approx(2 / 4)  # P1, P4 (P2's majority is 3)
    # the answer is carried where the problem asks for one, not for a proof problem
    asked = [r.prompt for r in srv.requests if "Here it is" not in r.prompt and "\\boxed{}" not in r.prompt
             and "Lean 4 code" not in r.prompt]
    p1 = next(p for p in asked if PLAN["P1"][0] in p and "Back-translation" not in p)
    p3 = next(p for p in asked if PLAN["P3"][0] in p and "Back-translation" not in p)
    assert "The answer is 5." in p1 and "The answer is" not in p3
    lean = [json.loads(x) for x in (rd / "train_lean.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["name"] for r in lean) == ["P1__f0", "P1__f0/0/0~have0", "P3__f0"]
    from bridge.train.data import read_informal, read_synthetic

    assert len(read_synthetic(rd / "train_lean.jsonl")) == 3  # what `iterate --synthetic` takes
    assert [r.band for r in read_informal(rd / "train_informal.jsonl")] == ["simple", "intermediate", "simple"]
    # a rerun asks nothing more and gives the same report
    n = len(srv.requests)
    assert run_pipeline(pipeline_argv(srv.url, inp, rd)) == 0
    assert len(srv.requests) == n and counts(rd) == EXPECTED
    # and every accepted proof of the run verifies again
    r = subprocess.run([sys.executable, "-m", "bridge", "replay", str(rd), "--repl-cmd", repl_cmd(), "--no-cache",
                        "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    assert "0 verdict(s) differ" in r.stdout


def _rows(db_path: Path, sql: str) -> int:
    if not db_path.is_file():
        return 0
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()


KILL_AT = {  # stage -> (what to slow down, the condition that the stage is under way)
    "solve": ({"solve": 0.3}, lambda rd: _rows(rd / "solve" / "run.sqlite", "SELECT COUNT(*) FROM solutions") >= 4),
    "prove": ({"prove": 0.5}, lambda rd: _rows(rd / "prove" / "run.sqlite", "SELECT COUNT(*) FROM samples") >= 1),
}


@pytest.mark.parametrize("stage", sorted(KILL_AT))
def test_a_kill_mid_run_then_a_rerun_gives_the_same_counts(server, tmp_path: Path, stage: str) -> None:
    srv, inp = server
    rd = tmp_path / "run"
    slow, under_way = KILL_AT[stage]
    SLOW.update(slow)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", *pipeline_argv(srv.url, inp, rd)], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not under_way(rd):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (rd / "report.json").exists()  # killed before the end
    SLOW.clear()
    assert run_pipeline(pipeline_argv(srv.url, inp, rd)) == 0
    assert counts(rd) == EXPECTED


def test_a_plan_file_flags_and_set(tmp_path: Path) -> None:
    from bridge.cli import pipeline
    from bridge.errors import InputError
    from bridge.pipeline.plan import read_plan

    (tmp_path / "problems.jsonl").write_text("", encoding="utf-8")
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text('input = "problems.jsonl"\nrun_dir = "runs/x"\nendpoint = "http://e/v1"\n'
                         '[solve]\nsamples = 3\n[formalize]\ncandidates = 5\nback_translation = false\n'
                         '[prove]\nendpoint = "http://p/v1"\n', encoding="utf-8")
    plan = read_plan(plan_file)
    assert plan.input == str(tmp_path / "problems.jsonl") and plan.solve.samples == 3
    assert plan.formalize.candidates == 5 and plan.formalize.back_translation is False
    assert plan.endpoint_of("solve") == "http://e/v1" and plan.endpoint_of("prove") == "http://p/v1"
    p = argparse.ArgumentParser()
    pipeline.add_parser(p.add_subparsers())
    args = p.parse_args(["pipeline", str(plan_file), "--proofs", "2", "--set", "synth.methods=mutate",
                         "--set", "formalize.votes=1"])
    plan = pipeline.plan_from_args(args)
    assert (plan.prove.samples, plan.synth.methods, plan.formalize.votes) == (2, ["mutate"], 1)
    assert plan.solve.samples == 3  # the file's, where no flag says otherwise
    with pytest.raises(InputError, match="unknown key 'sampels'"):
        pipeline.plan_from_args(p.parse_args(["pipeline", str(plan_file), "--set", "solve.sampels=2"]))
    bad = tmp_path / "bad.toml"
    bad.write_text("[solve\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        read_plan(bad)


def test_with_iterate_a_round_trains_on_the_pipeline_rows(server, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    from tests.test_train_support import build_word_model

    srv, inp = server
    model = build_word_model(tmp_path / "model")
    rd = tmp_path / "run"
    # canaries are refused by the REPL stand-in, as Lean refuses their proofs
    argv = pipeline_argv(srv.url, inp, rd, repl=repl_cmd(FORMAL_FAKE_REJECT="bridge_canary_"))
    argv += ["--iterate", "--set", f"iterate.model={model}", "--set", "iterate.samples=2", "--set",
             "iterate.max_tokens=8", "--set", "iterate.device=cpu", "--set", "iterate.max_steps=2", "--set",
             "iterate.max_length=256", "--set", "iterate.canaries=1", "--set", "prove.template=deepseek-v1.5",
             "--set", "iterate.lora_r=4"]
    assert run_pipeline(argv) == 0
    got = counts(rd)
    assert got.pop("iterate") == (1, 1)
    assert got == EXPECTED
    assert (rd / "iterate" / "round-1" / "adapter" / "adapter_config.json").is_file()
    data = json.loads((rd / "iterate" / "round-1" / "data.json").read_text(encoding="utf-8"))
    # the pipeline's rows went in: its 3 Lean rows (re-verified) as synthetic, its informal rows by band
    assert (data["synthetic"]["rows_in"], data["synthetic"]["kept"]) == (3, 3)
    assert data["informal_available"] == {"intermediate": 1, "simple": 2}
    assert data["bands"].get("lean-formalized", 0) >= 3
