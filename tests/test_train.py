"""Training data decisions (pure), canaries, `bridge train sft` on a memorizable set (loss, parameter
counts against a manual count, the adapter), `bridge merge`, the transformers adapter hook, and the
strict re-check of training proofs through fake lake/lean/bridge-check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.train import canary
from bridge.train.data import (
    InformalRow,
    Proof,
    contaminated,
    informal_train_rows,
    mix_quota,
    normalise_proof,
    parse_mix,
    pick_informal,
    rows_for_training,
    select_proofs,
    training_completion,
)
from provers.templates import FAMILIES, render
from tests.conftest import ROOT
from tests.test_train_support import build_word_model

DS = FAMILIES["deepseek-v1.5"]
GOEDEL = FAMILIES["goedel-v2"]
STMT = "theorem t (x : Nat) (h : x = 1) : x + 0 = 1 := by\n"


def proof(pid: str, idx: int, text: str, round_: int = 1) -> Proof:
    return Proof(pid, f"{pid}/0/{idx}", round_, text + "\n```", STMT + text, STMT)


# -- pure decisions -----------------------------------------------------------------------------------------


def test_proofs_are_compared_without_their_statement() -> None:
    from bridge.train.data import proof_part

    key = normalise_proof(STMT + "  simp")
    assert proof_part(key, STMT) == "by simp"
    # a chat model's restated theorem: helpers, then the reference signature, then the proof
    helper = "lemma l : True := trivial\n" + STMT.replace(":= by\n", ":=") + " by simp"
    assert proof_part(normalise_proof(helper), STMT) == "lemma l : True := trivial by simp"


def test_normalise_drops_comments_and_folds_whitespace() -> None:
    a = normalise_proof("  simp -- first try\n  /- block -/ omega\n")
    assert a == normalise_proof("\tsimp\n\n    omega") == "simp omega"
    assert normalise_proof('  exact "a  b"') != normalise_proof('  exact "a b"')  # strings are kept as written


def test_select_at_most_m_per_statement_short_and_distinct_first() -> None:
    ps = [proof("a", 0, "  simp\n  omega\n  rfl"), proof("a", 1, "  simp -- same\n  omega\n  rfl"),
          proof("a", 2, "  simp"), proof("a", 3, "  simp\n  omega\n  rfl\n  rfl"),
          proof("a", 4, "  decide\n  exact h"), proof("a", 5, "  intro y\n  cases y\n  all_goals linarith [h]"),
          proof("b", 0, "  rfl"), proof("b", 1, "  rfl   ")]
    got = select_proofs(ps, m=4, near=0.6)
    # shortest first; `simp omega rfl rfl` is shorter than the `intro` proof but a near-duplicate of
    # `simp omega rfl` (bigram Jaccard 2/3), so the distinct one is taken first
    assert [p.sample_id for p in got if p.problem_id == "a"] == ["a/0/2", "a/0/4", "a/0/0", "a/0/5"]
    assert [p.sample_id for p in got if p.problem_id == "b"] == ["b/0/0"]  # one proof after normalising
    # a near-duplicate still fills a slot nothing distinct is left for
    assert "a/0/3" in [p.sample_id for p in select_proofs(ps, m=5, near=0.6)]
    # the shortest answer stands for its duplicates
    assert select_proofs([proof("c", 0, "  simp -- long comment"), proof("c", 1, "  simp")], m=4)[0].sample_id == "c/0/1"
    # with room for all, every distinct proof is kept, statements in order of appearance
    assert len(select_proofs(ps, m=10)) == 5 + 1
    assert [p.problem_id for p in select_proofs(ps, m=1)] == ["a", "b"]


def test_training_completion_matches_what_extraction_reads() -> None:
    assert training_completion(DS, "  simp\n```\njunk after") == "  simp\n```"
    assert training_completion(DS, "  simp") == "  simp\n```"
    assert training_completion(GOEDEL, "Plan.\n```lean4\nx\n```") == [
        {"role": "assistant", "content": "Plan.\n```lean4\nx\n```"}]


def test_mix_quota_and_informal_draw() -> None:
    w = parse_mix("lean-formalized=2,simple=1,intermediate=1,advanced=0.5")
    assert mix_quota(10, {"simple": 100, "intermediate": 2, "advanced": 100}, w) == {
        "simple": 5, "intermediate": 2, "advanced": 2}  # a short band gives what it has
    assert mix_quota(0, {"simple": 9}, w)["simple"] == 0  # the verified rows set the scale
    rows = [InformalRow(f"q{i}", f"a{i}", "simple" if i % 2 else "advanced", f"r{i}") for i in range(20)]
    one = pick_informal(rows, {"simple": 3, "advanced": 2}, "0/1")
    assert one == pick_informal(rows, {"simple": 3, "advanced": 2}, "0/1") != pick_informal(rows, {"simple": 3, "advanced": 2}, "0/2")
    assert sorted(r.band for r in one) == ["advanced"] * 2 + ["simple"] * 3
    chat = informal_train_rows(one[:1], GOEDEL, "informal")[0]
    assert chat.prompt == [{"role": "user", "content": one[0].prompt}] and chat.completion[0]["role"] == "assistant"
    for bad in ("simple=1", "lean-formalized=x", "nonsense=1", "lean-formalized=-1"):
        with pytest.raises(InputError):
            parse_mix(bad)


def test_canaries_negate_proved_statements_and_add_false_variants() -> None:
    p = Problem("t", "train", "import Mathlib\n", STMT)
    neg = canary.negation(p)
    assert neg is not None and neg.formal_statement == (
        "theorem bridge_canary_not_t : ¬ (∀ (x : Nat) (h : x = 1), x + 0 = 1) := by\n")
    assert canary.negation(Problem("u", "s", "", "theorem u : 2 + 2 = 4 := by\n")).formal_statement == (
        "theorem bridge_canary_not_u : ¬ (2 + 2 = 4) := by\n")
    assert canary.negation(Problem("d", "s", "", "def d : Nat := 3")) is None
    assert canary.split_statement("theorem n {α : Type} [Inhabited α] (f : α → α) :\n  f = f := by\n") == (
        "n", "{α : Type} [Inhabited α] (f : α → α)", "f = f")
    first = canary.canaries(1, "import Init\n", [], 4)
    assert [c.id for c in first] == ["bridge_canary_false", "bridge_canary_zero_eq_one", "bridge_canary_all_nat_eq",
                                     "bridge_canary_lt_self"] and all(c.header == "import Init\n" for c in first)
    proved = [Problem(f"p{i}", "s", "h\n", f"theorem p{i} (n : Nat) : n = n := by\n") for i in range(5)]
    r2, r3 = canary.canaries(2, "h\n", proved, 4), canary.canaries(3, "h\n", proved, 4)
    assert [c.id.startswith("bridge_canary_not_") for c in r2] == [True, True, False, False]
    assert {c.id for c in r2[:2]} != {c.id for c in r3[:2]}  # a different few each round
    assert all(canary.is_canary(c.id) for c in r2 + r3)


def test_decontamination_matches_a_renamed_copy(shared_data: Path) -> None:
    rows = [json.loads(x) for x in (shared_data / "minif2f" / "minif2f.jsonl").read_text().splitlines()]
    src = next(r for r in rows if r["split"] == "test")
    ev = [Problem(r["name"], r["split"], r["header"], r["formal_statement"]) for r in rows]
    copy = Problem("mine", "train", src["header"], src["formal_statement"].replace(src["name"], "mine", 1))
    own = Problem("own", "train", "import Init\n", "theorem own (n : Nat) : n * 1 = n := by\n")
    got = contaminated([copy, own], {"minif2f": ev})
    assert [(m["problem_id"], m["against_id"]) for m in got] == [("mine", src["name"])]


def test_rows_for_training_from_jsonl(tmp_path: Path) -> None:
    demo = rows_for_training(ROOT / "datasets" / "demo.jsonl", DS)
    first = json.loads((ROOT / "datasets" / "demo.jsonl").read_text().splitlines()[0])
    p = Problem(first["name"], "test", first["header"], first["formal_statement"],
                informal_statement=first["informal_prefix"])
    assert demo[0]["prompt"] == render(DS, p)  # the text `bridge prove` sends
    assert demo[0]["completion"] == first["proof"] + "\n```"
    chat = rows_for_training(ROOT / "datasets" / "demo.jsonl", GOEDEL)
    assert chat[0]["prompt"] == render(GOEDEL, p) and "```lean4" in chat[0]["completion"][0]["content"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "completion": "b"}\n{"nothing": 1}\nnot json\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: .*\n.*bad.jsonl:3: not valid JSON"):
        rows_for_training(bad, DS)


# -- train sft, merge, the adapter hook -------------------------------------------------------------------


def manual_lora_count(cfg: dict, r: int) -> tuple[int, int]:
    """(base parameters, LoRA parameters on every linear layer but lm_head) from the model's dimensions."""
    h, i, v, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    linears = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]  # q k v o gate up down: (in, out)
    base = v * h + n * (sum(a * b for a, b in linears) + 2 * h) + h + (0 if cfg.get("tie_word_embeddings") else v * h)
    return base, n * sum(r * (a + b) for a, b in linears)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("trl")
    from bridge.cli.main import main

    tmp = tmp_path_factory.mktemp("sft")
    model = build_word_model(tmp / "model", init_std=0.3)
    data = tmp / "memorize.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"theorem t{i} := by\n", "completion": "  intro h\n  exact h <;> simp\n```"})
                            + "\n" for i in range(4)))
    out = tmp / "out"
    args = ["train", "sft", str(data), "--model", str(model), "--out", str(out), "--template", "deepseek-v1.5",
            "--max-steps", "30", "--lr", "1e-2", "--lr-scheduler", "constant", "--warmup", "0", "--logging-steps", "1",
            "--lora-r", "4", "--lora-dropout", "0", "--device", "cpu"]
    assert main(args) == 0
    return {"model": model, "out": out, "data": data, "args": args}


def test_sft_loss_falls_on_a_memorizable_set(sft_run: dict) -> None:
    s = json.loads((sft_run["out"] / "training_summary.json").read_text())
    losses = [x["loss"] for x in s["loss"]]
    assert len(losses) == 30 and [x["step"] for x in s["loss"]] == list(range(1, 31))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:3]) / 3
    assert s["train_tokens"] > s["loss_tokens"] > 0 and s["tokens_seen"] >= s["train_tokens"]
    assert s["hyperparameters"]["learning_rate"] == 1e-2 and s["hyperparameters"]["completion_only_loss"] is True
    assert s["wall_time_s"] > 0 and s["base_model"] == str(sft_run["model"]) and s["init_adapter"] is None
    assert (sft_run["out"] / "adapter" / "adapter_config.json").is_file()
    assert s["model"]["weights_dtype"] == "float32" and s["model"]["linear4bit_modules"] == 0  # on the CPU


def test_parameter_counts_equal_a_manual_count(sft_run: dict) -> None:
    s = json.loads((sft_run["out"] / "training_summary.json").read_text())
    cfg = json.loads((sft_run["model"] / "config.json").read_text())
    base, lora = manual_lora_count(cfg, r=4)
    assert s["model"]["parameter_counts"] == {"total": base + lora, "trainable": lora, "frozen": base,
                                              "ratio": lora / (base + lora)}


def test_finished_out_dir_needs_overwrite(sft_run: dict) -> None:
    from bridge.cli.main import main

    assert main(sft_run["args"]) == 2


def test_merge_gives_a_plain_model_equal_to_base_plus_adapter(sft_run: dict, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from bridge.cli.main import main
    from provers.backends.hf import TransformersBackend

    adapter, merged = sft_run["out"] / "adapter", tmp_path / "merged"
    assert main(["merge", str(adapter), "--out", str(merged)]) == 0
    assert (merged / "config.json").is_file() and not (merged / "adapter_config.json").exists()
    assert json.loads((merged / "bridge_merge.json").read_text())["base_model"] == str(sft_run["model"])
    ids = torch.tensor([[3, 5, 7, 9, 4]])
    plain = AutoModelForCausalLM.from_pretrained(merged).eval()
    base = AutoModelForCausalLM.from_pretrained(sft_run["model"]).eval()
    with torch.no_grad():
        want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(sft_run["model"]), str(adapter)).eval()(ids).logits
        got = plain(ids).logits
        assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, base(ids).logits, atol=1e-3)
    # the transformers backend's adapter hook samples from the same merged weights
    be = TransformersBackend(str(sft_run["model"]), device="cpu", adapter=str(adapter))
    with torch.no_grad():
        assert torch.allclose(be.model(ids).logits, want, atol=1e-4)
    assert be.name.endswith(f"+{adapter}")
    assert main(["merge", str(adapter), "--out", str(merged)]) == 2  # an existing model needs --overwrite


def test_continuing_from_an_adapter_loads_its_weights(sft_run: dict, tmp_path: Path) -> None:
    import datasets
    from bridge.train.sft import LoraSFTConfig, adapter_digest, train_sft

    ds = datasets.Dataset.from_list([json.loads(x) for x in sft_run["data"].read_text().splitlines()])
    s = train_sft(ds, str(sft_run["model"]), tmp_path / "next", DS,
                  LoraSFTConfig(max_steps=2, logging_steps=1, device="cpu", warmup=0),
                  init_adapter=sft_run["out"] / "adapter")
    assert s["init_adapter_state_sha256"] == adapter_digest(sft_run["out"] / "adapter")
    first = json.loads((sft_run["out"] / "training_summary.json").read_text())
    assert s["model"]["parameter_counts"] == first["model"]["parameter_counts"]


# -- the strict re-check of training proofs ------------------------------------------------------------------


@pytest.fixture
def strict_cfg(tmp_path: Path, fake_cfg, monkeypatch: pytest.MonkeyPatch):
    """fake `lake`, `lean` and `bridge-check` (tests/fakes), set up as tests/test_strict.py does: --strict
    runs only in the sandbox (a candidate outside it could rewrite the checker or the cache)."""
    from tests.test_strict import needs_sandbox, strict_setup

    needs_sandbox()
    return strict_setup(tmp_path, fake_cfg, monkeypatch)[0]


def test_training_proofs_are_rechecked_strictly_when_the_checker_is_there(strict_cfg, fake_cfg) -> None:
    from bridge.train.iterate import recheck, strict_status

    assert strict_status("auto", strict_cfg) == (True, None)
    ok, why = strict_status("auto", fake_cfg(sandbox=False))
    assert not ok and "unavailable" in why
    with pytest.raises(SetupError):
        strict_status("require", fake_cfg(sandbox=False))
    assert strict_status("off", strict_cfg)[0] is False
    p = Problem("t", "train", "import Init\n", "theorem strict_t (x : Nat) : x = x := by\n")
    good = Proof("t", "t/0/0", 1, "  rfl\n```", "")
    bad = Proof("t", "t/0/1", 1, "  rfl -- STRICT_KERNEL\n```", "")
    kept, rejected = recheck([good, bad], {"t": p}, DS, strict_cfg)
    assert kept == [good] and [(r["sample_id"], r["rule"]) for r in rejected] == [("t/0/1", "kernel")]
