"""Expert iteration's costs outside the model.

1. Data building, in rows per second: verified proofs read from a run store, selected (normalised,
   deduplicated, at most m per statement), decontaminated against miniF2F and ProofNet (when
   BRIDGE_DATA_DIR has them), prompted, and written as a ``datasets`` snapshot. Baseline in the same
   run: only reading the proofs from the store.
2. A round's bookkeeping (pool, data building, summaries, rounds.json/md/png) against its sampling +
   verification (a stand-in generator of fixed speed and the fake REPL burning CPU per candidate), the
   same round. Training and held-out evaluation are not in either figure.
3. LoRA SFT tokens/s, packing on against off (the baseline), for a random-initialised model. On the CPU
   only the tiny shape; on a GPU a 1.5B or 7B prover's shape in bf16, with peak memory and what a 7B
   round on Lean Workbook would cost in training time.

    python benchmarks/bench_train.py                                  # CPU: 1, 2 and 3 at --shape tiny
    python benchmarks/bench_train.py --shape 7b --device cuda         # on a GPU: 3 at that shape
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import FAKE, report

# (hidden, layers, heads, kv heads, intermediate, vocab)
SHAPES = {
    "tiny": (64, 2, 4, 2, 128, 512),
    # DeepSeek-R1-Distill-Qwen-1.5B / Qwen2.5-Math-1.5B (the 1.5B provers' base): Qwen2 shape
    "1.5b": (1536, 28, 12, 2, 8960, 151936),
    # DeepSeek-Prover-V1.5 (deepseek-math-7b): Llama shape
    "7b": (4096, 30, 32, 32, 11008, 102400),
}
TACTICS = ["simp", "omega", "linarith", "nlinarith [sq_nonneg (a - b)]", "norm_num", "ring_nf", "field_simp",
           "decide", "exact h₀", "rw [h₀] at h₁", "constructor", "intro x", "cases h₀", "positivity"]


def synthetic_store(path: Path, problems: int, samples: int, seed: int = 0) -> list[Any]:
    """A round's run store: ``problems`` statements x ``samples`` proofs, about half proved, many
    duplicates up to whitespace and comments (as sampled proofs are)."""
    from bridge.data.problem import Problem
    from bridge.runs.store import RunStore, sample_id
    from bridge.verify.verdict import Verdict

    rng = random.Random(seed)
    ps = [Problem(f"wb_{i}", "train", "import Mathlib\n", name=f"wb_{i}",
                  formal_statement=f"theorem wb_{i} (a b : ℝ) (h₀ : a + {i} = b) (h₁ : 0 < a) : b - a = {i} := by\n")
          for i in range(problems)]
    with RunStore(path) as store:
        store.add_problems(ps)
        store.db.execute("BEGIN")
        for p in ps:
            for j in range(samples):
                steps = [rng.choice(TACTICS) for _ in range(rng.randint(1, 4))]
                proof = "".join(f"  {s}{' -- step' if rng.random() < 0.3 else ''}\n" for s in steps)
                sid = sample_id(p.id, 0, j)
                store.db.execute("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (sid, p.id, 0, j, None, "", proof + "```", p.header, p.formal_statement + proof,
                                  "{}", time.time()))
                ok = rng.random() < 0.5
                v = Verdict(id=sid, verdict="proved" if ok else "failed", reason=None if ok else "an error",
                            lean_version="bench")
                store.db.execute("INSERT INTO verdicts VALUES (?, ?, ?, ?)",
                                 (sid, v.verdict, json.dumps(v.to_json()), time.time()))
        store.db.execute("COMMIT")
    return ps


def bench_data(tmp: Path, problems: int, samples: int) -> tuple[list[list[Any]], dict[str, Any]]:
    from bridge.config import load_config
    from bridge.runs.store import RunStore
    from bridge.train.data import (
        contaminated,
        lean_rows,
        load_against,
        save_snapshot,
        select_proofs,
        verified_proofs,
    )
    from provers.templates import FAMILIES

    fam = FAMILIES["deepseek-v1.5"]
    ps = synthetic_store(tmp / "store", problems, samples)
    by_id = {p.id: p for p in ps}
    t0 = time.perf_counter()
    with RunStore(tmp / "store") as store:
        rows = store.samples(round_=0)
    read_only = time.perf_counter() - t0
    times: dict[str, float] = {}
    t = time.perf_counter()
    with RunStore(tmp / "store") as store:
        proofs = verified_proofs(store, 1, False)
    times["read proofs"] = time.perf_counter() - t
    t = time.perf_counter()
    selected = select_proofs(proofs, 4, 0.8)
    times["select (normalise, dedupe, m=4)"] = time.perf_counter() - t
    against: dict[str, Any] = {}
    if os.environ.get("BRIDGE_DATA_DIR"):
        against = load_against(["minif2f", "proofnet"], load_config())
    t = time.perf_counter()
    contaminated([by_id[i] for i in dict.fromkeys(p.problem_id for p in selected)], against)
    times["decontaminate" + ("" if against else " (no data: skipped)")] = time.perf_counter() - t
    t = time.perf_counter()
    out = lean_rows(selected, by_id, fam, "bench")
    times["prompt (render)"] = time.perf_counter() - t
    t = time.perf_counter()
    save_snapshot(out, tmp / "train")
    times["save_to_disk"] = time.perf_counter() - t
    total = sum(times.values())
    n = len(proofs)
    table = [[stage, round(s, 3), round(n / s) if s > 0 else "-"] for stage, s in times.items()]
    table += [["all stages", round(total, 3), round(n / total)], ["baseline: read samples only", round(read_only, 3),
                                                                   round(len(rows) / read_only)]]
    return table, {"proofs_in": n, "rows_out": len(out), "samples": len(rows), "rows_per_s": round(n / total),
                   "build_over_read": round(total / read_only, 2), "decontaminated_against": list(against)}


class FixedSpeed:
    """Stands in for a GPU: sleeps a fixed time per sample, answers that burn CPU in the fake REPL."""

    name = "fixed-speed"

    def __init__(self, per_sample: float, check_s: float):
        self.per_sample, self.check_s = per_sample, check_s

    def generate(self, prompt: Any, n: int, params: Any) -> list[str]:
        time.sleep(self.per_sample * n)
        tactic = "exact FAKE_ERROR" if "bridge_canary" in str(prompt) else "simp"  # canaries stay unproved
        return [f"  {tactic} -- FAKE_BURN={self.check_s} {params.seed} {i}\n```" for i in range(n)]


def bench_round(tmp: Path, problems: int, samples: int, gen_s: float, check_s: float) -> tuple[list[list[Any]], dict]:
    import bridge.train.iterate as it
    from bridge.config import load_config
    from bridge.train.data import DataConfig
    from bridge.train.iterate import IterateConfig, Iteration, round_dir, round_summary
    from bridge.train.rounds import write_rounds

    tmp.mkdir(parents=True, exist_ok=True)
    pool = tmp / "pool.jsonl"
    pool.write_text("".join(json.dumps({"name": f"p{i}", "split": "train", "header": "import Init\n",
                                        "formal_statement": f"theorem p{i} (n : Nat) : n + {i} = {i} + n := by\n"}) + "\n"
                            for i in range(problems)))
    bcfg = load_config(overrides=dict(repl_cmd=f"{sys.executable} {FAKE}", workers=2, use_cache=False,
                                      cache_dir=tmp / "cache", sandbox=False,
                                      data_dir=os.environ.get("BRIDGE_DATA_DIR")), environ={})
    decontam = ("minif2f", "proofnet") if os.environ.get("BRIDGE_DATA_DIR") else ()
    cfg = IterateConfig(pool=str(pool), model="stand-in", rounds=1, samples=samples, run_dir=tmp / "run",
                        template="deepseek-v1.5", canaries=2, strict="off", data=DataConfig(decontam=decontam))
    it.sampling_backend = lambda *a, **k: FixedSpeed(gen_s, check_s)  # no model: a generator of fixed speed
    run = Iteration(cfg, bcfg, log=lambda s: None)
    import warnings

    import matplotlib.pyplot  # noqa: F401 - imported once per process: not a per-round cost

    warnings.simplefilter("ignore")
    run.prepare()
    rd = round_dir(run.dir, 1)
    t = time.perf_counter()
    statements, cans = run.pool(1, rd)  # type: ignore[misc]
    pool_s = time.perf_counter() - t
    t = time.perf_counter()
    run.prove(rd / "samples", statements + cans, samples, None, cfg.params, {"dataset": cfg.pool, "model": cfg.model},
              watch_canaries=True)
    sample_s = time.perf_counter() - t
    t = time.perf_counter()
    run.build_data(1, rd)
    data_s = time.perf_counter() - t
    t = time.perf_counter()
    from bridge.runs.store import RunStore
    from bridge.train.data import write_json

    with RunStore(rd / "samples") as store:
        counts = store.counts()
    summary = round_summary(1, statements, cans, counts, problems, json.loads((rd / "data.json").read_text()), {},
                            None, {}, None, None, run.dir, cfg)
    write_json(rd / "round.json", summary)
    write_rounds(run.dir)
    summary_s = time.perf_counter() - t
    book = pool_s + data_s + summary_s
    table = [["sampling + verification (baseline)", round(sample_s, 3)], ["pool + canaries", round(pool_s, 4)],
             ["training data (select, decontaminate, snapshot)", round(data_s, 3)],
             ["round summary, rounds.json/md/png", round(summary_s, 3)], ["bookkeeping total", round(book, 3)]]
    return table, {"bookkeeping_over_sampling_verify": round(book / sample_s, 3),
                   "samples": (problems + len(cans)) * samples, "gen_s_per_sample": gen_s, "check_s": check_s,
                   "training_rows": summary["training_rows"]}


def build_shape(path: Path, shape: str, device: str) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.tiny_model import build_tiny_model

    h, n, heads, kv, inter, vocab = SHAPES[shape]
    build_tiny_model(path, vocab=400)  # the tokenizer (ids above its size are never fed)
    if shape == "1.5b":
        cfg: Any = Qwen2Config(vocab_size=vocab, hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                               num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096,
                               tie_word_embeddings=True)
        cls: Any = Qwen2ForCausalLM
    else:
        cfg = LlamaConfig(vocab_size=max(vocab, 512), hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                          num_key_value_heads=kv, intermediate_size=inter, max_position_embeddings=4096)
        cls = LlamaForCausalLM
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        model = cls(cfg).to(dtype)
    model.save_pretrained(path)
    del model
    return path


def bench_sft(tmp: Path, shape: str, device: str, rows: int, tokens_per_row: int, steps: int,
              workbook_rows: int, workbook_tokens: int) -> tuple[list[list[Any]], dict]:
    import datasets
    from bridge.train.sft import LoraSFTConfig, train_sft
    from provers.templates import FAMILIES

    model = build_shape(tmp / "model", shape, device)
    rng = random.Random(0)
    words = ["  simp", "  omega", "  linarith", "\n", "  norm_num", " h₀", " x", "  exact", " rfl"]
    data = []
    for i in range(rows):
        # rows of different lengths, so that packing has padding to save
        n = rng.randint(tokens_per_row // 4, tokens_per_row)
        data.append({"prompt": f"theorem t{i} := by\n", "completion": "".join(rng.choice(words) for _ in range(n)) + "\n```"})
    ds = datasets.Dataset.from_list(data)
    out: dict[str, dict[str, Any]] = {}
    for packing in (False, True):
        cfg = LoraSFTConfig(max_steps=steps, batch_size=4, max_length=tokens_per_row * 2, packing=packing,
                            logging_steps=max(1, steps), device=device, quantize="none", warmup=0)
        s = train_sft(ds, str(model), tmp / f"out-{packing}", FAMILIES["deepseek-v1.5"], cfg)
        out["on" if packing else "off"] = s
    table = [[f"packing {k}", round(s["wall_time_s"], 2), s["tokens_seen"], round(s["tokens_per_second"] or 0, 1),
              "-" if s["peak_memory_gb"] is None else round(s["peak_memory_gb"], 2)] for k, s in out.items()]
    pc = out["on"]["model"]["parameter_counts"]
    summary: dict[str, Any] = {"shape": shape, "device": device, "dtype": out["on"]["hyperparameters"]["dtype"],
                               "packing_speedup": round((out["on"]["tokens_per_second"] or 0)
                                                        / (out["off"]["tokens_per_second"] or 1), 2),
                               "parameters": pc["total"], "trainable": pc["trainable"], "steps": steps}
    if shape == "7b":
        tps = out["on"]["tokens_per_second"] or 0
        hours = workbook_rows * workbook_tokens / tps / 3600 if tps else None
        summary["lean_workbook_round_training_hours"] = None if hours is None else round(hours, 2)
        summary["lean_workbook_round_assumption"] = (f"{workbook_rows} training rows x {workbook_tokens} tokens, "
                                                     "one epoch, packing on; sampling and verification not included")
    return table, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--problems", type=int, default=2000, help="data building: statements in the store")
    ap.add_argument("--samples", type=int, default=16, help="data building: samples per statement")
    ap.add_argument("--round-problems", type=int, default=12)
    ap.add_argument("--round-samples", type=int, default=8)
    ap.add_argument("--gen-s", type=float, default=0.02, help="stand-in generator: seconds per sample")
    ap.add_argument("--check-s", type=float, default=0.05, help="fake REPL: CPU seconds per candidate")
    ap.add_argument("--sft-rows", type=int, default=64)
    ap.add_argument("--sft-tokens", type=int, default=64, help="longest completion, in tokens")
    ap.add_argument("--sft-steps", type=int, default=8)
    ap.add_argument("--workbook-rows", type=int, default=30000, help="7B estimate: rows of a Lean Workbook round")
    ap.add_argument("--workbook-tokens", type=int, default=700, help="7B estimate: tokens per row")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if a.device == "cpu" and a.shape == "tiny":
            rows, summary = bench_data(tmp / "data", a.problems, a.samples)
            report("train_data", ["stage", "seconds", "proofs/s"], rows, summary)
            rows, summary = bench_round(tmp / "round", a.round_problems, a.round_samples, a.gen_s, a.check_s)
            report("train_round", ["step", "seconds"], rows, summary)
        elif a.device == "cpu":
            sys.exit("the 1.5b and 7b shapes are measured on a GPU: --device cuda")
        rows, summary = bench_sft(tmp / "sft", a.shape, a.device, a.sft_rows, a.sft_tokens, a.sft_steps,
                                  a.workbook_rows, a.workbook_tokens)
        report(f"train_sft_{a.shape}", ["packing", "seconds", "tokens", "tokens/s", "peak GB"], rows, summary)


if __name__ == "__main__":
    main()
