"""Reward throughput: completions/s through ``bridge.rl``'s Lean reward against ``Verifier.verify`` (what
``bridge verify`` runs) on the same candidates, measured in the same run (target: the reward adds under
10 %). The reward is called as trl calls an async reward (awaited on an event loop in a daemon thread),
once with every completion and once in GRPO-sized batches (P prompts x G samples per call, each call
waiting for its slowest check). Distinct completions and no result cache, so both check the same
candidates in the fake REPL; FAKE_REPL_BURN (--burn) gives each check a cost.

Then one GRPO step (trl GRPOTrainer + LoRA, the Lean reward on the fake REPL): generation, reward and
training seconds. On the CPU the shape is tiny; ``--device cuda --shape 1.5b`` is a random-initialised
Qwen2-1.5B-shaped model (28 layers, hidden 1536; the tokenizer is the tests' tiny one, so the embedding
is its size), 8 samples x 64 prompts.

    python benchmarks/bench_reward.py                                   # CPU: reward throughput + tiny GRPO step
    python benchmarks/bench_reward.py --device cuda --shape 1.5b        # on a GPU
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import FAKE, report

from bridge.config import load_config
from bridge.data.problem import Problem
from bridge.rl import make_lean_reward
from bridge.verify.api import Verifier
from provers.templates import extract, family_for

SHAPES = {
    "tiny": dict(hidden=32, layers=2, heads=4, kv=2, intermediate=64),
    # Qwen2.5-Math-1.5B / DeepSeek-R1-Distill-Qwen-1.5B / Kimina-Prover-Distill-1.7B's family: 1.5B shape
    "1.5b": dict(hidden=1536, layers=28, heads=12, kv=2, intermediate=8960),
}
HEADER = "import Init\n"
TEMPLATE = "deepseek-v1.5"


def problems(n: int) -> list[Problem]:
    return [Problem(id=f"p{i}", split="bench", header=HEADER,
                    formal_statement=f"theorem bench_{i} (n : Nat) : n + {i} = {i} + n := by\n") for i in range(n)]


def completions(probs: list[Problem], g: int) -> list[tuple[Problem, str]]:
    """G distinct answers per problem: most prove, some fail, one in eight has no closing fence."""
    out = []
    for p in probs:
        for k in range(g):
            body = "  exact FAKE_ERROR" if k % 4 == 3 else "  omega"
            out.append((p, f"{body} -- sample {p.id}/{k}\n" + ("```" if k % 8 != 7 else "")))
    return out


def cfg_for(tmp: Path, workers: int, burn: float):
    env = f"env FAKE_REPL_BURN={burn} " if burn else ""
    return load_config(overrides=dict(repl_cmd=f"{env}{sys.executable} {FAKE}", workers=workers, use_cache=False,
                                      cache_dir=tmp / "cache", sandbox=False, timeout=30, header_timeout=30,
                                      lean_version="v4.33.0-fake"), environ={})


class Loop:
    """An event loop in a daemon thread, as trl runs async rewards."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):  # noqa: ANN001, ANN201
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def _cpu() -> float:
    """CPU seconds of this process (every thread), not of the REPL children: the harness's own work."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_verify(cfg, rows: list[tuple[Problem, str]]) -> tuple[float, float, int]:  # noqa: ANN001
    t0, c0 = time.perf_counter(), _cpu()
    fam = family_for("", TEMPLATE)
    cands = [extract(fam, p, a, f"{p.id}#{i}") for i, (p, a) in enumerate(rows)]
    with Verifier(cfg) as v:
        proved = sum(1 for x in v.verify(cands) if x.verdict == "proved")
    return time.perf_counter() - t0, _cpu() - c0, proved


def time_reward(cfg, rows: list[tuple[Problem, str]], batch: int, loop: Loop) -> tuple[float, float, int]:  # noqa: ANN001
    t0, c0 = time.perf_counter(), _cpu()
    with make_lean_reward(template=TEMPLATE, config=cfg) as reward:
        proved = 0
        for i in range(0, len(rows), batch):
            part = rows[i:i + batch]
            got = loop.run(reward(prompts=["prompt"] * len(part), completions=[a for _, a in part],
                                  header=[p.header for p, _ in part], formal_statement=[p.formal_statement for p, _ in part],
                                  problem_id=[p.id for p, _ in part]))
            proved += sum(1 for r in got if r == 1.0)
    return time.perf_counter() - t0, _cpu() - c0, proved


def throughput(a: argparse.Namespace, tmp: Path) -> tuple[list[list], dict]:
    rows = completions(problems(a.problems), a.group)
    batch = a.prompts_per_call * a.group
    loop = Loop()
    results: dict[str, dict[str, list[tuple[float, float]]]] = {}
    proved_seen: set[int] = set()
    paths = {"verify": lambda cfg: time_verify(cfg, rows),
             "reward, one call": lambda cfg: time_reward(cfg, rows, len(rows), loop),
             f"reward, {batch} per call": lambda cfg: time_reward(cfg, rows, batch, loop)}
    try:
        for burn in a.burn:
            cfg = cfg_for(tmp, a.workers, burn)
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
            for _ in range(a.repeats):  # interleaved, so drift on a shared machine hits every path alike
                for name, fn in paths.items():
                    wall, cpu, proved = fn(cfg)
                    times[name].append((wall, cpu))
                    proved_seen.add(proved)
            results[f"{burn * 1000:g} ms"] = times
    finally:
        loop.close()
    table, summary = [], {"completions": len(rows), "workers": a.workers, "repeats": a.repeats,
                          "same_proved_count": len(proved_seen) == 1}
    for label, times in results.items():
        base = statistics.median(w for w, _ in times["verify"])
        for name, ts in times.items():
            med = statistics.median(w for w, _ in ts)
            cpu = statistics.median(c for _, c in ts)
            table.append([label, name, round(med, 3), round(len(rows) / med, 1),
                          "-" if name == "verify" else f"{100 * (med / base - 1):+.1f}%",
                          round(1000 * cpu / len(rows), 3)])
            if name != "verify":
                summary[f"overhead at {label} per check, {name} (%)"] = round(100 * (med / base - 1), 1)
    return table, summary


def grpo_step(a: argparse.Namespace, tmp: Path) -> dict:
    """One GRPO step; its generation, reward and training seconds from the trainer's own timings."""
    import torch

    from bridge.rl.grpo import GRPORun, GRPORunConfig
    from tests.tiny_model import build_tiny_model

    s = SHAPES[a.shape]
    path = tmp / "model"
    if a.shape == "tiny":
        build_tiny_model(path, hidden=s["hidden"], layers=s["layers"])
    else:
        from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

        build_tiny_model(path)  # the tokenizer
        tok = AutoTokenizer.from_pretrained(path)
        mc = Qwen2Config(vocab_size=len(tok), hidden_size=s["hidden"], intermediate_size=s["intermediate"],
                         num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv"],
                         max_position_embeddings=4096, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        with torch.device(a.device):
            Qwen2ForCausalLM(mc).to(torch.bfloat16).save_pretrained(path)
    probs = problems(a.grpo_prompts)
    cfg = cfg_for(tmp, a.workers, 0.0)
    run_cfg = GRPORunConfig(dataset="bench", model=str(path), run_dir=tmp / "run", steps=1, samples=a.group,
                            pass_window=None, prompts_per_step=a.grpo_prompts, max_completion_length=a.max_tokens,
                            device=a.device, vllm="off" if a.device == "cpu" else "auto", save_steps=1000)
    summary = GRPORun(run_cfg, cfg, probs, family_for("", TEMPLATE)).run()
    import json

    rec = json.loads((tmp / "run" / "steps.jsonl").read_text().splitlines()[-1])
    step_time = rec["trl"].get("step_time")
    gen, rew = rec["generation_s"], rec["reward_s"]
    return {"shape": a.shape, "device": a.device, "prompts": a.grpo_prompts, "samples": a.group,
            "max_tokens": a.max_tokens, "generation_s": gen, "reward_s": rew,
            "training_s": step_time - gen - rew if step_time is not None and gen is not None and rew is not None else None,
            "step_s": step_time, "generation": summary.get("generation")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--group", type=int, default=8, help="samples per prompt (G)")
    ap.add_argument("--prompts-per-call", type=int, default=8, help="prompts per reward call (P)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--burn", type=float, nargs="+", default=[0.0, 0.005],
                    help="CPU seconds the fake REPL spends per command (0: the harness alone)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--shape", choices=list(SHAPES), default=None, help="GRPO step model (default: tiny on the "
                    "CPU, 1.5b on cuda)")
    ap.add_argument("--grpo-prompts", type=int, default=None, help="prompts in the GRPO step (default 4 on the "
                    "CPU, 64 on cuda)")
    ap.add_argument("--max-tokens", type=int, default=None, help="tokens per completion in the GRPO step "
                    "(default 16 on the CPU, 256 on cuda)")
    ap.add_argument("--skip-grpo", action="store_true")
    a = ap.parse_args()
    gpu = a.device == "cuda"
    a.shape = a.shape or ("1.5b" if gpu else "tiny")
    a.grpo_prompts = a.grpo_prompts or (64 if gpu else 4)
    a.max_tokens = a.max_tokens or (256 if gpu else 16)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows, summary = throughput(a, tmp)
        overheads = [v for k, v in summary.items() if k.startswith("overhead")]
        summary["machine_load_1min"] = round(__import__("os").getloadavg()[0], 2)
        summary["target"] = "under 10 % overhead"
        summary["pass"] = all(v < 10 for v in overheads)
        if not a.skip_grpo:
            if gpu:
                import torch

                if not torch.cuda.is_available():
                    print("bench_reward: --device cuda, but torch sees no GPU: the GRPO step is not measured",
                          file=sys.stderr)
                    summary["grpo_step"] = "not run: no GPU"
                else:
                    summary["grpo_step"] = grpo_step(a, tmp / "grpo")
            else:
                summary["grpo_step"] = grpo_step(a, tmp / "grpo")
    report("reward", ["fake check cost", "path", "median wall s", "completions/s", "vs verify",
                      "harness CPU ms/completion"], rows, summary)


if __name__ == "__main__":
    main()
