"""`bridge formalize --prove N`: the funnel's survivors get N proofs each from a prover (a `bridge prove` run
in RUN_DIR/prove), the report has a `proved` stage with its in/out counts, and the proved (statement, proof)
pairs are rows `bridge train sft` and `bridge iterate --synthetic` read. Against the stand-in model and REPL
of tests/test_formalize.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.fake_model_server import FakeModelServer
from tests.test_formalize import EXPECTED, formalize_argv, respond, run_formalize, statuses, write_input

PROVER = "deepseek-ai/DeepSeek-Prover-V1.5-RL"
# the prover's answers by sample index: primes has one good proof in two, sumsq none
PROOFS = {
    "theorem primes (n": ["\n  exact Real.frobnicate n\n```", "\n  exact Nat.exists_infinite_primes n\n```"],
    "theorem sumsq (p": ["\n  exact Real.frobnicate p\n```", "\n  nlinarith [Real.frobnicate]\n```"],
}


def respond_with_prover(prompt: str, i: int, seed: int = 0) -> str:
    if prompt.startswith("Complete the following Lean 4 code"):
        for needle, answers in PROOFS.items():
            if needle in prompt:
                return answers[i % len(answers)]
        return "\n  sorry\n```"
    return respond(prompt, i, seed)


@pytest.fixture
def planted(tmp_path: Path):
    inp, ev = write_input(tmp_path)
    with FakeModelServer(respond_with_prover, served="goedel-served") as srv:
        yield srv, inp, ev


def prove_argv(url: str, inp: Path, ev: Path, run_dir: Path, n: int = 2) -> list[str]:
    return formalize_argv(url, inp, ev, run_dir, "--prove", str(n), "--prover-model", PROVER)


def test_prove_adds_a_proved_stage_and_training_rows(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    assert run_formalize(prove_argv(srv.url, inp, ev, run_dir)) == 0
    assert statuses(run_dir) == EXPECTED  # the funnel's fates are unchanged: proving is not a filter
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    funnel = {r["stage"]: r for r in report["funnel"]}
    assert [r["stage"] for r in report["funnel"]][-2:] == ["back_translation", "proved"]
    assert (funnel["proved"]["entered"], funnel["proved"]["passed"], funnel["proved"]["pending"]) == (2, 1, 0)
    assert funnel["proved"]["dropped"] == {"no proof verified": 1}
    assert report["proved"] == 1 and report["statements_proved"] == 1 and report["survivors"] == 2
    assert "| proved | 2 | 1 | 50.0% |" in (run_dir / "report.md").read_text(encoding="utf-8")
    # the prover's run is a `bridge prove` run directory of its own
    prove_report = json.loads((run_dir / "prove" / "report.json").read_text(encoding="utf-8"))
    assert prove_report["template"] == "deepseek-v1.5" and prove_report["solved"] == 1 and prove_report["problems_total"] == 2
    assert srv.asked("Complete the following Lean 4 code") == 4
    # the proved pair, as rows the trainers read
    rows = [json.loads(x) for x in (run_dir / "proved.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "primes__f0" and row["band"] == "lean-formalized" and row["split"] == "train"
    assert row["proof"] == "\n  exact Nat.exists_infinite_primes n\n"
    assert row["formal_statement"].startswith("theorem primes (n : ℕ)")
    assert row["provenance"]["proof"]["sample_id"] == "primes__f0/0/1" and row["provenance"]["proof"]["prover"] == PROVER
    assert row["provenance"]["source_id"] == "primes"
    from bridge.train.data import read_synthetic, rows_for_training
    from provers.templates import family_for

    pairs = read_synthetic(run_dir / "proved.jsonl")  # what `iterate --synthetic` reads
    assert [(p.id, proof) for p, proof in pairs] == [("primes__f0", row["proof"])]
    ds = rows_for_training(run_dir / "proved.jsonl", family_for(PROVER, None))  # what `train sft` reads
    assert ds[0]["band"] == "lean-formalized" and ds[0]["completion"].startswith(row["proof"])
    assert "theorem primes (n : ℕ)" in ds[0]["prompt"]


def test_a_rerun_asks_nothing_more(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    assert run_formalize(prove_argv(srv.url, inp, ev, run_dir)) == 0
    asked = len(srv.requests)
    first = (run_dir / "proved.jsonl").read_text(encoding="utf-8")
    assert run_formalize(prove_argv(srv.url, inp, ev, run_dir)) == 0
    assert len(srv.requests) == asked
    assert (run_dir / "proved.jsonl").read_text(encoding="utf-8") == first


def test_without_prove_there_is_no_proved_stage(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    assert run_formalize(formalize_argv(srv.url, inp, ev, run_dir, "--no-back-translation")) == 0
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert "proved" not in {r["stage"] for r in report["funnel"]} and "proved" not in report
    assert not (run_dir / "proved.jsonl").exists()
