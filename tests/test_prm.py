"""Process reward models: trl's layout, step scores of a tiny random token-classification PRM read at the
step tokens (min / last / product), best-of-k selection in a solve run's report, FoVer-style labels of a
prove run's `have` steps through the verifier and the fake REPL, and `prm train`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bridge.cli import prm as prm_cli
from bridge.data.problem import Problem
from bridge.informal import fover
from bridge.informal.prm import aggregate, aggregates, step_positions, tokenize_row
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.verdict import Verdict
from tests.conftest import fake_repl_cmd


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    prm_cli.add_parser(p.add_subparsers())
    return p.parse_args(["prm", *argv])


def test_trl_layout_and_aggregation() -> None:
    ids, labels = tokenize_row([5, 6], [[7, 8], [9]], [0], [1, 0], bos=1, max_length=None)
    assert ids == [1, 5, 6, 7, 8, 0, 9, 0]
    assert labels == [-100, -100, -100, -100, -100, 1, -100, 0]  # on each step's last token (its separator)
    assert step_positions(tokenize_row([5], [[7], [8]], [0], None, None, None)[1]) == [2, 4]
    assert tokenize_row([5], [[7], [8]], [0], None, None, 3)[0] == [5, 7, 0]  # the second step is cut off
    assert (aggregate([0.9, 0.2, 0.8], "min"), aggregate([0.9, 0.2, 0.8], "last")) == (0.2, 0.8)
    assert aggregate([0.5, 0.5], "product") == 0.25 and aggregate([], "min") is None
    assert aggregates([0.5])["product"] == 0.5


def test_the_subcommands_exist() -> None:
    assert parse("score", "RUN", "--model", "M").func is prm_cli.run_score
    assert parse("labels", "RUN").func is prm_cli.run_labels
    assert parse("train", "D", "--model", "M", "--out", "O").func is prm_cli.run_train


# -- a tiny PRM -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_prm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoConfig, LlamaForTokenClassification

    from tests.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path_factory.mktemp("prm") / "model")
    cfg = AutoConfig.from_pretrained(path)
    cfg.num_labels = 2
    torch.manual_seed(1)
    LlamaForTokenClassification(cfg).save_pretrained(path)  # the same tokenizer, a token-classification head
    return path


def test_scores_are_read_at_the_step_tokens(tiny_prm: Path) -> None:
    import torch

    from bridge.informal.prm import PRMScorer

    scorer = PRMScorer(str(tiny_prm), separator="\n", batch_size=2)
    items = [("Add 1 and 1.", ["1 + 1 = 2", "so \\boxed{2}"]), ("x?", ["x = 3"])]
    got = scorer.score(items)
    assert [len(s) for s in got] == [2, 1] and all(0.0 < x < 1.0 for s in got for x in s)
    # by hand: the same layout, one row at a time, the class-1 probability at the step positions
    for (prompt, steps), scores in zip(items, got, strict=True):
        ids, pos = scorer.encode(prompt, steps)
        with torch.inference_mode():
            probs = scorer.model(input_ids=torch.tensor([ids])).logits.softmax(-1)[0, :, 1]
        assert scores == pytest.approx([float(probs[p]) for p in pos], abs=1e-5)


def _solve_run(tmp: Path) -> Path:
    """A solve run with known grades: p1's samples 0 and 2 correct, p2's sample 1."""
    from bridge.informal.problem import InformalProblem
    from bridge.informal.store import KIND, Solution, SolveStore

    run_dir = tmp / "solve"
    with SolveStore(run_dir) as store:
        store.set_meta({"kind": KIND, "samples": 3, "grader": "math-verify", "mode": "cot", "model": "m"})
        store.add_informal_problems([InformalProblem("p1", "test", "One plus one?", "2", band="simple"),
                                     InformalProblem("p2", "test", "Two plus two?", "4", band="simple")])
        texts = {"p1": ["1 + 1 = 2\n\nso \\boxed{2}", "1 + 1 = 3\n\nso \\boxed{3}", "two\n\n\\boxed{2}"],
                 "p2": ["\\boxed{5}", "2 + 2 = 4\n\n\\boxed{4}", "\\boxed{3}"]}
        right = {"p1": {0, 2}, "p2": {1}}
        for pid, ts in texts.items():
            for i, t in enumerate(ts):
                store.add_solution(Solution(sample_id(pid, 0, i), pid, i, "prompt", t))
            store.set_grades(pid, {"n": 3, "error": None, "samples": [
                {"idx": i, "answer": t[-2], "how": "boxed", "correct": i in right[pid], "method": "math-verify",
                 "strict": i in right[pid], "substring": i in right[pid]} for i, t in enumerate(ts)],
                "groups": {"math-verify": [[i] for i in range(3)], "normalised": [[i] for i in range(3)]}})
    return run_dir


def test_prm_score_adds_best_of_k_selection(tiny_prm: Path, tmp_path: Path) -> None:
    from bridge.informal.metrics import rank_by_score, selected_at_k
    from bridge.informal.store import SolveStore

    run_dir = _solve_run(tmp_path)
    assert prm_cli.run_score(parse("score", str(run_dir), "--model", str(tiny_prm), "--name", "tiny")) == 0
    report = json.loads((run_dir / "report.json").read_text())
    with SolveStore.open_solve(run_dir) as store:
        scores = store.step_scores()["tiny"]
    assert len(scores) == 6 and scores["p1/0/0"]["steps"] == 2 and len(scores["p1/0/0"]["scores"]) == 2
    for agg in ("min", "last", "product"):
        want = []
        for pid, right in (("p1", {0: True, 1: False, 2: True}), ("p2", {0: False, 1: True, 2: False})):
            ranked = rank_by_score({i: scores[f"{pid}/0/{i}"][agg] for i in range(3)}, right)
            want.append(selected_at_k(ranked, 3))
        assert report["selected_pass_at_k"][f"prm:tiny:{agg}"]["3"] == pytest.approx(sum(want) / 2)
        assert report["selected_pass_at_k"][f"prm:tiny:{agg}"]["1"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    # scored once: a second call scores nothing new
    assert prm_cli.run_score(parse("score", str(run_dir), "--model", str(tiny_prm), "--name", "tiny")) == 0


def test_prm_train_then_score(tiny_prm: Path, tmp_path: Path) -> None:
    data = tmp_path / "steps.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "theorem t : 1 + 1 = 2 := by", "completions": ["  have h : 2 = 2 := rfl", "  omega"], "labels": [True, True]},
        {"prompt": "theorem u : 2 = 3 := by", "completions": ["  have h : 2 = 3 := rfl", "  omega"], "labels": [False, False]},
    ]))
    out = tmp_path / "trained"
    assert prm_cli.run_train(parse("train", str(data), "--model", str(tiny_prm), "--out", str(out), "--max-steps", "2",
                                   "--batch-size", "2", "--logging-steps", "1")) == 0
    summary = json.loads((out / "prm_summary.json").read_text())
    assert summary["optimizer_steps"] == 2 and summary["steps_labelled"] == 4 and summary["positive"] == 2
    from bridge.informal.prm import PRMScorer

    assert len(PRMScorer(str(out)).score([("p", ["a", "b"])])[0]) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "completions": ["a"], "labels": [True, False]}) + "\n")
    with pytest.raises(Exception, match="bad.jsonl:1"):
        prm_cli.run_train(parse("train", str(bad), "--model", str(tiny_prm), "--out", str(out)))


# -- FoVer-style labels ------------------------------------------------------------------------------


def test_have_steps_split_at_top_level() -> None:
    proof = ("\n  -- a comment\n  have h1 : 1 = 1 := by\n    rfl\n  simp\n  have h2 : 2 = 2 := rfl\n"
             "  exact foo\n    bar\n")
    lead, items, indent = fover.proof_items(proof)
    steps = fover.split_steps(items)
    assert indent == 2 and [s.kind for s in steps] == ["have", "have", "final"]
    assert steps[0].text == "  have h1 : 1 = 1 := by\n    rfl" and steps[0].end == 1
    assert steps[1].text == "  simp\n  have h2 : 2 = 2 := rfl" and steps[2].text == "  exact foo\n    bar"
    assert fover.prefix_proof(lead, items, 1, indent).endswith("    rfl\n  bridge_prm_rest\n")


STATEMENT = "theorem t (a : Nat) : a + 0 = a := by\n"
BAD = "  have h1 : a = a := rfl\n  have h2 : a + 0 = a := FAKE_ERROR\n  have h3 : 0 = 0 := rfl\n  simp\n"
GOOD = "  have h1 : a = a := rfl\n  simp\n"


def _prove_run(tmp: Path) -> Path:
    run_dir = tmp / "prove"
    with RunStore(run_dir) as store:
        store.set_meta({"dataset": "x", "count_fast_gate": False})
        store.add_problems([Problem("t", "test", "import Init\n", STATEMENT, informal_statement="a plus zero")])
        for i, (proof, verdict) in enumerate(((BAD, "failed"), (GOOD, "proved"), ("  simp\n", "proved"))):
            sid = sample_id("t", 0, i)
            store.add_sample(SampleRow(sid, "t", 0, i, proof, "import Init\n", STATEMENT + proof), "", {})
            store.add_verdict(sid, Verdict(sid, verdict, reason=None if verdict == "proved" else "error"))
    return run_dir


def test_labels_from_lean_verdicts(tmp_path: Path) -> None:
    run_dir = _prove_run(tmp_path)
    out = tmp_path / "labels.jsonl"
    rc = prm_cli.run_labels(parse("labels", str(run_dir), "-o", str(out), "--repl-cmd", fake_repl_cmd(), "--no-cache",
                                  "--workers", "1", "--cache-dir", str(tmp_path / "cache")))
    assert rc == 0
    rows = {r["sample_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    # the second `have` does not elaborate: it and every later prefix are unsound; the proof failed
    bad = rows["t/0/0"]
    assert bad["labels"] == [True, False, False, False] and bad["verdict"] == "failed"
    assert bad["completions"] == ["  have h1 : a = a := rfl", "  have h2 : a + 0 = a := FAKE_ERROR",
                                  "  have h3 : 0 = 0 := rfl", "  simp"]
    assert bad["prompt"] == "/-- a plus zero -/\n" + STATEMENT
    assert rows["t/0/1"]["labels"] == [True, True]
    assert "t/0/2" not in rows  # no `have`: nothing to label step by step
