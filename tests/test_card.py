"""`bridge card`: the model card rendered from a run's records (hand-written here; tests/test_iterate.py
renders the card of a real two-round run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.train.card import render_card, share_bar

COUNTS = {"total": 1_000_000, "trainable": 5_000, "frozen": 995_000, "ratio": 0.005}


def summary(**extra: object) -> dict:
    return {"kind": "lora-sft", "trained": True, "base_model": "org/prover-7b", "template": "deepseek-v1.5",
            "format": "completion", "adapter": "out/adapter", "init_adapter": None,
            "data": {"rows": 40, "bands": {"lean-formalized": 30, "simple": 10}},
            "hyperparameters": {"lora_r": 16, "lora_alpha": 32, "target_modules": "all-linear", "learning_rate": 1e-4,
                                "lr_scheduler": "cosine", "epochs": 1.0, "max_steps": -1, "effective_batch_size": 8,
                                "max_length": 2048, "dtype": "bfloat16", "device": "cuda", "packing": True,
                                "quantization": None},
            "loss": [{"step": 1, "loss": 1.5}, {"step": 10, "loss": 0.7}], "train_loss": 0.9, "steps": 10,
            "train_tokens": 12345, "wall_time_s": 42.0, "model": {"parameter_counts": COUNTS},
            "versions": {"trl": "1.16.0", "peft": "0.21.2"}, **extra}


def test_share_bar() -> None:
    assert share_bar(0.5, 10) == "█████░░░░░"
    assert share_bar(0.005, 10) == "▏░░░░░░░░░"  # too small for a cell, still visible
    assert share_bar(0.0, 4) == "░░░░" and share_bar(1.0, 4) == "████"


def test_card_of_a_train_sft_output(tmp_path: Path) -> None:
    (tmp_path / "training_summary.json").write_text(json.dumps(summary(train_data="proofs.jsonl")))
    assert main(["card", str(tmp_path)]) == 0
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nbase_model: org/prover-7b\nlibrary_name: peft")
    assert "| trainable (LoRA) | 5,000 |" in card and "| total | 1,000,000 |" in card and "0.500 %" in card
    assert "| lean-formalized | 30 | 75.0 % |" in card and "packed sequences" in card
    assert "No held-out evaluation" in card and "## Rounds" not in card
    assert "final training loss 0.9000 (first logged 1.5000), 10 steps" in card
    # a train sft run was given its rows: it says so, and claims no Lean check of them
    assert "The 40 training rows came as data (`proofs.jsonl`): `bridge train sft` checked none of" in card
    assert "were checked by Lean" not in card and "Every training proof" not in card


def test_card_of_an_iterate_run(tmp_path: Path) -> None:
    d = tmp_path / "run"
    (d / "round-1" / "eval").mkdir(parents=True)
    (d / "round-2").mkdir()
    (d / "iterate.json").write_text(json.dumps({"base_model": "org/prover-7b", "template": "deepseek-v1.5", "pool_size": 9,
                                                "fixed": {"pool": "lean_workbook", "samples": 16,
                                                          "data": {"max_per_statement": 4, "train_on": "all",
                                                                   "decontam": ["minif2f", "proofnet"]}}}))
    report = {"pass_at_k": {"1": 0.25, "8": 0.5}, "dataset": "minif2f", "split": "test", "problems_total": 4,
              "samples": 8, "solved": 2, "sampling": {"temperature": 1.0}, "template": "deepseek-v1.5",
              "lean_version": "v4.9.0", "estimator": "unbiased estimator of Chen et al. (2021)"}
    (d / "round-1" / "eval" / "report.json").write_text(json.dumps(report))
    (d / "round-1" / "training_summary.json").write_text(json.dumps(summary()))
    (d / "round-1" / "data.json").write_text(json.dumps({"bands": {"lean-formalized": 6},
                                                         "decontamination": {"dropped_statements": ["x"]}}))
    base = {"round": 1, "statements_in_pool": 9, "solved_so_far": 3, "pool_total": 9, "new_proofs": 6,
            "training_rows": 6, "training_tokens": 900, "strict": True, "heldout": {"pass_at_k": report["pass_at_k"]}}
    (d / "round-1" / "round.json").write_text(json.dumps(base))
    (d / "round-2" / "round.json").write_text(json.dumps({**base, "round": 2, "statements_in_pool": 6, "heldout": None,
                                                          "strict": False, "strict_reason": "no lake"}))
    card = render_card(d)
    assert "(2 rounds of expert iteration)" in card and "- expert-iteration" in card
    assert "| 1 | 9 | 3/9 | 6 | 6 | 900 | yes | 25.0 % | 50.0 % |" in card
    assert "| 2 | 6 | 3/9 | 6 | 6 | 900 | no | - | - |" in card
    assert "not re-checked by the kernel checker: no lake" in card
    assert ("Of the 6 training rows, 6 (band `lean-formalized`: proofs sampled in the rounds" in card
            and "checked by Lean through bridge's soundness gate" in card and "none came as data" in card)
    assert "`minif2f` (test), 4 problems, 8 samples" in card and "round 1" in card and "Lean v4.9.0" in card
    assert "pool: `lean_workbook` (9 statements), 16 samples" in card and "(1 statement(s) dropped)" in card


def test_card_needs_a_run(tmp_path: Path) -> None:
    from bridge.errors import InputError

    with pytest.raises(InputError):
        render_card(tmp_path)
