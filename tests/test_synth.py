"""`bridge synth`: have-lift of a known proof yields the expected theorems; mutate derives proofs
through library lemmas; conjecture keeps what the prover proves within the pass-rate window; every
item is checked again by the gate (a stand-in that rejects one shows it dropped) and by a strict
checker when there is one; a killed run resumes. The REPL stand-in is tests/fakes/fake_formal_repl.py."""

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

from bridge.errors import BridgeError, SetupError
from bridge.runs.store import RunStore, SampleRow
from bridge.verify.soundness import Rejection
from bridge.verify.verdict import Verdict
from provers.formalize.statement import parse_statement
from provers.synth import (
    Seed,
    choose,
    find_haves,
    have_lift,
    in_window,
    introduced_names,
    mutate,
    parse_window,
    seed_parts,
    tactic_lines,
)
from tests.conftest import ROOT
from tests.fakes.fake_model_server import FakeModelServer
from tests.test_formalize import repl_cmd

HEADER = "import Mathlib\n"
AMC = "theorem amc (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6 := by"
AMC_PROOF = """
  have hx : 2 * x = 12 := by
    linarith [h₀, h₁]
  have h2 : x = 6 := by linarith
  exact h2
"""
SEED = Seed("amc/0/3", "amc", HEADER, AMC, AMC_PROOF)


# -- pure ------------------------------------------------------------------------------------------------


def test_have_lift_of_a_known_proof_yields_the_expected_theorems() -> None:
    items, skips = have_lift(SEED)
    assert skips == []
    got = [(it.id, it.group, it.statement + it.proof) for it in items]
    assert got == [
        ("amc/0/3~have0", "amc/0/3~have0",
         "theorem amc_have_hx_0 (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) :\n    2 * x = 12 := by\n"
         "  linarith [h₀, h₁]\n"),
        ("amc/0/3~have1", "amc/0/3~have1", "theorem amc_have_h2_1 (x y : ℝ) :\n    x = 6 := by\n  linarith\n"),
        ("amc/0/3~have1~all", "amc/0/3~have1",
         "theorem amc_have_h2_1 (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) (hx : 2 * x = 12) :\n    x = 6 := by\n"
         "  linarith\n"),
    ]
    assert items[2].provenance == {"have": "h2", "line": 3, "variant": "all",
                                   "hypotheses": ["(x y : ℝ)", "(h₀ : x + y = 10)", "(h₁ : x - y = 2)", "(hx : 2 * x = 12)"]}


def test_have_lift_keeps_nested_blocks_and_refuses_what_it_cannot_state() -> None:
    proof = """
  obtain ⟨k, hk⟩ : ∃ k : ℕ, k = n := ⟨n, rfl⟩
  have h1 : n + 0 = n := by
    cases n with
    | zero => rfl
    | succ m => rfl
  have h2 : k = n := by exact hk
  have h3 : n = n := (rfl)
  have ⟨a, b⟩ : ∃ a b : ℕ, a = b := ⟨0, 0, rfl⟩
  · have h4 : n * 1 = n := by simp
    exact h4
"""
    seed = Seed("s", "nat_fact", HEADER, "theorem nat_fact (n : ℕ) (hn : 0 < n) : n = n := by", proof)
    items, skips = have_lift(seed)
    texts = {it.id: it.statement + it.proof for it in items}
    assert texts["s~have0"] == ("theorem nat_fact_have_h1_0 (n : ℕ) :\n    n + 0 = n := by\n  cases n with\n"
                                "  | zero => rfl\n  | succ m => rfl\n")
    assert "s~have1" in texts and texts["s~have1"].startswith("theorem nat_fact_have_h4_1 (n : ℕ) :\n    n * 1 = n")
    kinds = sorted(s.kind for s in skips)
    assert kinds == ["binders or a pattern", "term proof", "uses a name a tactic introduced"]
    assert any("`have h2` uses `hk`" in s.reason for s in skips)


def test_introduced_names() -> None:
    lines = ["intro x hx", "obtain ⟨k, hk⟩ := h", "rcases foo with ⟨a, rfl⟩", "by_cases hc : x = 0",
             "cases' h2 with l r", "set s := x + 1 with hs"]
    got = introduced_names(lines)
    assert {"x", "hx", "k", "hk", "a", "hc", "l", "r", "s", "hs"} <= got
    assert "h" not in got and "foo" not in got and "h2" not in got


def test_find_haves_reads_inline_and_block_tactics() -> None:
    haves, unread = find_haves(tactic_lines(AMC_PROOF))
    assert [(h.name, h.type, h.tactic) for h in haves] == [("hx", "2 * x = 12", ("linarith [h₀, h₁]",)),
                                                         ("h2", "x = 6", ("linarith",))]
    assert unread == []
    haves, _ = find_haves(["have : 1 = 1 := by rfl"])
    assert haves[0].name == "this"


def test_mutate_derives_each_proof_from_the_original() -> None:
    items, skips = mutate(SEED)
    assert skips == []
    rules = [(it.provenance["lemma"], it.provenance["target"], it.provenance["mutated"]) for it in items]
    assert rules == [("eq_comm", "conclusion", "6 = x"), ("le_of_eq", "conclusion", "x ≤ 6"),
                     ("eq_comm", "h₀", "10 = x + y"), ("eq_comm", "h₁", "2 = x - y")]
    conc = items[1]
    assert conc.statement == "theorem amc_mut_1 (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) :\n    x ≤ 6 := by\n"
    assert conc.proof.startswith("  have bridge_orig : x = 6 := by\n    have hx : 2 * x = 12 := by\n      linarith")
    assert conc.proof.endswith("  exact le_of_eq bridge_orig\n")
    hyp = items[2]
    assert "(h₀ : 10 = x + y)" in hyp.statement
    assert hyp.proof.startswith("  have h₀ : x + y = 10 := by first | exact (eq_comm).mp h₀ | exact (eq_comm).mpr h₀\n"
                                "  have hx : 2 * x = 12 := by\n")
    # premises and consequences of other forms
    lt = Seed("l", "lt", HEADER, "theorem lt (a b : ℕ) (h : a ≤ b ∨ b = 0) : a < b + 1 ∧ 0 ≤ a := by", "\n  omega\n")
    got = {(it.provenance["lemma"], it.provenance["target"]): it.provenance["mutated"] for it in mutate(lt)[0]}
    assert got[("and_comm", "conclusion")] == "0 ≤ a ∧ a < b + 1"
    assert got[("And.left", "conclusion")] == "a < b + 1"
    assert got[("Or.inl", "h")] == "a ≤ b" and got[("or_comm", "h")] == "b = 0 ∨ a ≤ b"
    assert mutate(Seed("q", "q", HEADER, "theorem q : ∀ n : ℕ, n = n := by", "\n  simp\n"))[1][0].kind == "no rule applies"


def test_window_and_choice() -> None:
    assert parse_window("0,0.25") == (0.0, 0.25)
    with pytest.raises(ValueError):
        parse_window("0.5,0.2")
    assert [in_window(r, (0.0, 0.25)) for r in (0.0, 0.03, 0.25, 0.5)] == [False, True, True, False]
    items, _ = have_lift(SEED)
    proved = Verdict(id="x", verdict="proved")
    failed = Verdict(id="x", verdict="failed", reason="linarith failed")
    kept, why = choose(items, {items[0].id: proved, items[1].id: failed, items[2].id: proved}, False)
    assert [it.id for it in kept] == ["amc/0/3~have0", "amc/0/3~have1~all"]
    kept, why = choose(items, {items[0].id: proved, items[1].id: proved, items[2].id: proved}, False)
    assert [it.id for it in kept] == ["amc/0/3~have0", "amc/0/3~have1"] and why[items[2].id].startswith("superseded")
    fast = Verdict(id="x", verdict="proved", gate="fast")
    assert choose(items[:1], {items[0].id: fast}, False)[0] == [] and choose(items[:1], {items[0].id: fast}, True)[0]


def test_seed_parts_of_a_restated_theorem() -> None:
    body = "lemma aux : True := trivial\ntheorem amc (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6 := by\n  linarith"
    helpers, proof = seed_parts(body, AMC)
    assert helpers.startswith("lemma aux") and proof == "\n  linarith"
    sig_body = "theorem amc (x y : ℝ) (h₀ : x + y = 10) (h₁ : x - y = 2) : x = 6 := by\n  linarith"
    assert seed_parts(sig_body.replace(":= by", ":=  by"), AMC)[1] == "\n  linarith"
    assert parse_statement(AMC) is not None


# -- end to end -------------------------------------------------------------------------------------------


def seeds_file(tmp_path: Path, rows: list[dict]) -> Path:
    f = tmp_path / "proofs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return f


EXPORT_ROW = {"problem_id": "amc", "split": "test", "header": HEADER, "formal_statement": AMC, "helpers": "",
              "proof": AMC_PROOF, "sample_id": "amc/0/3", "verdict": "proved", "gate": "full"}


def parse(argv: list[str]) -> argparse.Namespace:
    from bridge.cli import synth

    p = argparse.ArgumentParser()
    synth.add_parser(p.add_subparsers())
    return p.parse_args(argv)


def run_synth(argv: list[str], checker: object | None = None) -> int:
    from bridge.cli import synth

    return synth.run(parse(argv), strict_checker=checker)


def synth_argv(source: Path, run_dir: Path, method: str, *extra: str, repl: str | None = None) -> list[str]:
    return ["synth", str(source), "--method", method, "--run-dir", str(run_dir), "--decontam", "none",
            "--repl-cmd", repl or repl_cmd(), "--no-cache", "--workers", "2", "--timeout", "20", *extra]


def out_rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def make_run_dir(tmp_path: Path) -> Path:
    """A prove run store with two verified proofs of one problem and one failed sample."""
    from bridge.data.problem import Problem

    run = tmp_path / "prove-run"
    p = Problem(id="amc", split="test", header=HEADER, formal_statement=AMC, name="amc")
    with RunStore(run) as store:
        store.set_meta({"model": "some/prover", "served_model": "served/prover"})
        store.add_problems([p])
        for i, proof in enumerate([AMC_PROOF, AMC_PROOF.replace("exact h2", "linarith"), "\n  nonsense\n"]):
            sid = f"amc/0/{i}"
            store.add_sample(SampleRow(sid, "amc", 0, i, proof + "```", HEADER, AMC + proof), "prompt", {})
            v = Verdict(id=sid, verdict="proved") if i < 2 else Verdict(id=sid, verdict="failed", reason="no")
            store.add_verdict(sid, v)
    return run


def test_have_lift_from_a_run_every_item_verified_a_rejected_one_dropped(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path)
    ev = tmp_path / "eval.jsonl"
    ev.write_text(json.dumps({"name": "e", "split": "test", "header": HEADER, "formal_statement":
                              "theorem e (a b : ℝ) (h₀ : a + b = 10) (h₁ : a - b = 2) : 2 * a = 12 := by"}) + "\n")
    # the stand-in refuses the have-lift over too few hypotheses, as Lean's linarith would
    repl = repl_cmd(FORMAL_FAKE_REJECT=r"amc_have_h2_1 \(x y : ℝ\) :\n")
    out = tmp_path / "synth"
    argv = synth_argv(run, out, "have-lift", repl=repl)
    argv[argv.index("none")] = str(ev)
    assert run_synth(argv) == 0
    rows = out_rows(out / "synthetic.jsonl")
    # seed 0 gives hx (contaminated: the evaluation set states it) and h2 (the minimal variant is refused,
    # the one over every hypothesis kept); seed 1's lifts are duplicates of seed 0's
    assert [r["name"] for r in rows] == ["amc/0/0~have1~all"]
    r = rows[0]
    assert r["formal_statement"].startswith("theorem amc_have_h2_1 (x y : ℝ) (h₀ : x + y = 10)")
    assert r["band"] == "lean-formalized" and r["split"] == "train" and r["proof"] == "  linarith\n"
    assert r["provenance"]["method"] == "have-lift" and r["provenance"]["parent"] == "amc/0/0"
    assert r["provenance"]["verified"]["verdict"] == "proved" and r["provenance"]["verified"]["strict"] is False
    assert r["provenance"]["seeds_from"] == str(run)
    report = json.loads((out / "report.json").read_text())
    assert report["seeds"] == 2 and report["kept"] == 1 and report["items_per_proof"] == 0.5
    hl = report["by_method"]["have-lift"]
    assert hl["proposed"] == 6 and hl["kept"] == 1
    assert hl["dropped"]["duplicate"] == 3 and hl["dropped"][f"contaminated: {ev}"] == 1 and hl["dropped"]["failed"] == 1
    assert report["strict"] is False and "unavailable" in report["strict_reason"]
    # the dropped item is listed with the evaluation problem it matched, and why
    assert [(d["id"], d["against"], d["against_id"]) for d in report["decontaminated"]] == [("amc/0/0~have0", str(ev), "e")]
    assert "same statement (canonical form)" in report["decontaminated"][0]["reason"]
    assert "| have-lift | 6 |" in (out / "report.md").read_text()
    # what it wrote is a dataset `bridge prove` reads and `bridge train sft` trains on (lean-formalized)
    from bridge.config import load_config
    from bridge.data.loader import load_dataset

    assert [p.id for p in load_dataset(str(out / "synthetic.jsonl"), load_config(), split="train")] == ["amc/0/0~have1~all"]
    pytest.importorskip("datasets")
    from bridge.train.data import rows_for_training
    from provers.templates import FAMILIES

    ds = rows_for_training(out / "synthetic.jsonl", FAMILIES["deepseek-v1.5"])
    assert ds[0]["band"] == "lean-formalized" and ds[0]["completion"].startswith("  linarith\n")


class FakeStrict:
    """A kernel checker stand-in: available, and it rejects the items whose name contains ``refuse``."""

    def __init__(self, refuse: str, available: bool = True):
        self.refuse, self.ok, self.checked = refuse, available, []

    def available(self) -> tuple[bool, str]:
        return (self.ok, "fake checker") if self.ok else (False, "no bridge-check here")

    def check(self, c):  # noqa: ANN001, ANN201 - the StrictChecker interface
        self.checked.append(c.id)
        return Rejection("kernel", "the kernel replay rejected it") if self.refuse in c.body else None


def test_mutate_with_the_strict_checker_when_it_is_there(tmp_path: Path) -> None:
    src = seeds_file(tmp_path, [EXPORT_ROW])
    checker = FakeStrict(refuse="amc_mut_3")
    # the gate itself refuses one mutation (a stand-in for a lemma that does not apply)
    repl = repl_cmd(FORMAL_FAKE_REJECT="amc_mut_0")
    assert run_synth(synth_argv(src, tmp_path / "out", "mutate", repl=repl), checker) == 0
    rows = out_rows(tmp_path / "out" / "synthetic.jsonl")
    assert [r["provenance"]["lemma"] for r in rows] == ["le_of_eq", "eq_comm"]
    assert [r["name"] for r in rows] == ["amc/0/3~mut1", "amc/0/3~mut2"]
    assert all(r["provenance"]["verified"]["strict"] for r in rows)
    assert sorted(checker.checked) == ["amc/0/3~mut1", "amc/0/3~mut2", "amc/0/3~mut3"]  # only what the gate proved
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["strict"] is True and report["by_method"]["mutate"]["dropped"] == {"failed": 1, "rejected (kernel)": 1}


def test_strict_required_without_the_checker_is_an_error(tmp_path: Path) -> None:
    src = seeds_file(tmp_path, [EXPORT_ROW])
    with pytest.raises(SetupError, match="kernel checker is unavailable"):
        run_synth([*synth_argv(src, tmp_path / "out", "have-lift"), "--strict"], FakeStrict("x", available=False))
    assert not (tmp_path / "out").exists()


def test_bad_arguments(tmp_path: Path) -> None:
    src = seeds_file(tmp_path, [EXPORT_ROW])
    with pytest.raises(BridgeError, match="unknown"):
        run_synth(synth_argv(src, tmp_path / "o", "lift"))
    with pytest.raises(BridgeError, match="needs --model"):
        run_synth(synth_argv(src, tmp_path / "o", "conjecture"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"formal_statement": "theorem x : True := by"}\n')
    with pytest.raises(BridgeError, match="bad.jsonl:1: needs"):
        run_synth(synth_argv(bad, tmp_path / "o", "mutate"))


# conjecture: the conjecturer's completions (STP's shape) and how many of K prover samples are good
CONJECTURES = [
    (" conj_rare (x : ℕ) (h : 0 < x) : 0 < x * x := by\n  positivity\n</hard theorem>", 1),  # 1/4: in the window
    (" conj_easy (x : ℕ) : x + 0 = x := by\n  simp\n</hard theorem>", 4),  # 4/4: too easy
    (" conj_hard (x : ℕ) (h : 2 < x) : x ^ x > 2 := by\n  sorry\n</hard theorem>", 0),  # 0/4: never proved
    (" amc (a b : ℝ) (h₀ : a + b = 10) (h₁ : a - b = 2) : a = 6 := by\n</hard theorem>", 4),  # the seed itself
    (" conj_bad (x : ℕ) (h : Nat.IsSuperPrime x) : x > 1 := by\n</hard theorem>", 4),  # does not elaborate
]


def conj_respond(prompt: str, i: int, seed: int = 0) -> str:
    if "<hard theorem>" in prompt:  # the conjecturer, STP's prompt
        return CONJECTURES[i % len(CONJECTURES)][0]
    for text, good in CONJECTURES:  # the prover (deepseek-v1.5 completion template)
        name = text.split()[0]
        if f"theorem {name} " in prompt:
            return ("  nlinarith [sq_nonneg x]\n```" if i < good else "  bad_tactic\n```")
    return "  nothing\n```"


def test_conjecture_keeps_what_lies_in_the_pass_rate_window(tmp_path: Path) -> None:
    src = seeds_file(tmp_path, [EXPORT_ROW])
    with FakeModelServer(conj_respond) as srv:
        argv = synth_argv(src, tmp_path / "out", "conjecture", "--model", "stp-model", "--endpoint", srv.url,
                          "--conjectures", "5", "--samples", "4", "--prover-template", "deepseek-v1.5",
                          repl=repl_cmd(FORMAL_FAKE_REJECT="bad_tactic"))
        assert run_synth(argv) == 0
        asked = len(srv.requests)
        conj_prompt = next(r.prompt for r in srv.requests if "<hard theorem>" in r.prompt)
        assert conj_prompt.startswith("Complete the following Lean 4 code:\n\n```lean4\n<lemma>\ntheorem true: True\n"
                                      "<easy theorem>\ntheorem amc (x y : ℝ)")
        assert conj_prompt.endswith("<hard theorem>\n theorem")
        rows = out_rows(tmp_path / "out" / "synthetic.jsonl")
        assert [r["formal_statement"] for r in rows] == ["theorem conj_rare (x : ℕ) (h : 0 < x) : 0 < x * x := by"]
        prov = rows[0]["provenance"]
        assert prov["pass_rate"] == 0.25 and prov["samples"] == 4 and prov["window"] == [0.0, 0.25]
        assert rows[0]["proof"].strip() == "nlinarith [sq_nonneg x]"
        report = json.loads((tmp_path / "out" / "report.json").read_text())
        c = report["conjecture"]
        assert c["generated"] == 5 and c["attempted"] == 3 and c["in_window"] == 1
        assert c["stages"]["unique"] == {"entered": 5, "passed": 4} and c["stages"]["elaborates"]["passed"] == 3
        assert sorted(c["pass_rates"].values()) == [0.0, 0.25, 1.0]
        # a rerun asks the model for nothing and verifies nothing
        assert run_synth(argv) == 0
        assert len(srv.requests) == asked
        assert out_rows(tmp_path / "out" / "synthetic.jsonl") == rows


def _verdict_rows(run_dir: Path) -> set[tuple]:
    if not (run_dir / "run.sqlite").is_file():
        return set()
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return set(db.execute("SELECT item_id, verdict, data FROM synth_verdicts").fetchall())
    except sqlite3.Error:
        return set()
    finally:
        db.close()


def test_synth_resumes_after_sigkill(tmp_path: Path) -> None:
    rows = [dict(EXPORT_ROW, sample_id=f"amc/0/{i}", proof=AMC_PROOF.replace("10", str(10 + 2 * i)),
                 formal_statement=AMC.replace("10", str(10 + 2 * i))) for i in range(4)]
    src = seeds_file(tmp_path, rows)
    out = tmp_path / "out"
    code = ("import argparse, sys\nfrom bridge.cli import synth\n"
            "p = argparse.ArgumentParser(); synth.add_parser(p.add_subparsers())\n"
            "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n")
    slow = synth_argv(src, out, "mutate,have-lift", "--workers", "1", repl=repl_cmd(FORMAL_FAKE_BURN="0.3"))
    proc = subprocess.Popen([sys.executable, "-c", code, *slow], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(_verdict_rows(out)) < 3:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _verdict_rows(out)
    assert 3 <= len(before) < 28
    assert run_synth(synth_argv(src, out, "mutate,have-lift")) == 0
    after = _verdict_rows(out)
    assert before <= after and len({r[0] for r in after}) == len(after)
    clean = tmp_path / "clean"
    assert run_synth(synth_argv(src, clean, "mutate,have-lift")) == 0
    assert [r["name"] for r in out_rows(out / "synthetic.jsonl")] == [r["name"] for r in out_rows(clean / "synthetic.jsonl")]


def test_empty_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty input file: one line naming it and the next step, exit 2, nothing written."""
    from bridge.cli.main import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["synth", str(empty), "--method", "mutate", "--decontam", "none", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(empty) in err and "; give " in err, err
    assert not (tmp_path / "run").exists()


def test_choose_caps_items_per_seed_and_drops_near_duplicates() -> None:
    """`synth mutate` made near-identical variants with no cap (issue 26): at most MAX_PER_SEED per seed and
    method, and none that is a near-duplicate (the same conclusion, decontam's score) of one kept before."""
    from provers.synth import MAX_PER_SEED, SynthItem, choose

    hyps = " ".join(f"(h{i} : a {i} = {i} * {i} + {i})" for i in range(12))

    def item(iid: str, parent: str, statement: str) -> SynthItem:
        return SynthItem(iid, "mutate", parent, "import Init\n", statement, "  simp\n")

    items = [item("s1~mut0", "s1", f"theorem v0 (a : ℕ → ℕ) {hyps} : a 12 = 156 := by\n"),
             # the same statement with one more hypothesis: a near-duplicate of the first
             item("s1~mut1", "s1", f"theorem v1 (a : ℕ → ℕ) {hyps} (h : a 0 = 0) : a 12 = 156 := by\n"),
             *[item(f"s2~mut{k}", "s2", f"theorem w{k} (n : ℕ) (h : {k} < n) : {k} ≤ n := by\n") for k in range(5)]]
    proved = {it.id: Verdict(id=it.id, verdict="proved", gate="full") for it in items}
    kept, why = choose(items, proved, count_fast_gate=False)
    assert MAX_PER_SEED == 3
    assert [it.id for it in kept] == ["s1~mut0", "s2~mut0", "s2~mut1", "s2~mut2"]
    assert why["s1~mut1"].startswith("near-duplicate: of s1~mut0 (score ")
    assert why["s2~mut3"].startswith("over the per-seed cap: 3 mutate item(s) of s2") and "s2~mut4" in why
    kept, _ = choose(items, proved, count_fast_gate=False, max_per_seed=0)
    assert len(kept) == 6  # no cap: only the near-duplicate goes
