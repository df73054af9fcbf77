"""Sampling throughput: 64 samples of one prompt from a randomly initialised model, shared-prefix batched
sampling (bridge's transformers backend) against one sample at a time, in generated tokens per second.

On a GPU use a real prover's shape (`--shape deepseek-7b`: DeepSeek-Prover-V1.5's Llama-style 7B shape,
random weights, bf16). On the CPU, `--shape tiny` only checks that the benchmark runs.

    python benchmarks/bench_sampling.py --shape tiny --samples 16 --max-tokens 32
    python benchmarks/bench_sampling.py --shape deepseek-7b --samples 64 --max-tokens 256   # on a GPU
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ROOT, report  # noqa: F401  (puts the repository on sys.path)

SHAPES = {
    "tiny": dict(hidden=64, layers=2),
    # DeepSeek-Prover-V1.5 (deepseek-math-7b base): hidden 4096, 30 layers, 32 heads, vocab 102400
    "deepseek-7b": dict(hidden=4096, layers=30, heads=32, intermediate=11008, vocab=102400),
}


def build(path: Path, shape: str) -> Path:
    from tests.tiny_model import build_tiny_model

    s = SHAPES[shape]
    if shape == "tiny":
        return build_tiny_model(path, hidden=s["hidden"], layers=s["layers"])
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    build_tiny_model(path)  # for the tokenizer
    cfg = LlamaConfig(vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["intermediate"],
                      num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["heads"],
                      max_position_embeddings=4096, torch_dtype=torch.bfloat16)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=list(SHAPES), default="tiny")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()
    import torch

    from provers.backends.base import SamplingParams
    from provers.backends.hf import TransformersBackend

    prompt = ("Complete the following Lean 4 code with explanatory comments preceding each line of code:\n\n```lean4\n"
              "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology "
              "Rat\n\n/-- Show that for any real x with 2x = 4, x = 2. -/\ntheorem t (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n")
    params = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=a.max_tokens, seed=0)
    with tempfile.TemporaryDirectory() as d:
        path = build(Path(d) / "m", a.shape)
        be = TransformersBackend(str(path), batch_size=a.batch_size)
        # force exactly max_tokens per sample so both methods generate the same number of tokens
        be.model.generation_config.eos_token_id = None
        be.generate(prompt, 2, params)  # warm-up
        sync = torch.cuda.synchronize if be.device.startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        be.generate(prompt, a.samples, params)
        sync()
        batched = time.perf_counter() - t0
        one = TransformersBackend(str(path), batch_size=1, share_prefix=False)
        one.model.generation_config.eos_token_id = None
        sync()
        t0 = time.perf_counter()
        for i in range(a.samples):
            one.generate(prompt, 1, SamplingParams(1.0, 0.95, a.max_tokens, i))
        sync()
        single = time.perf_counter() - t0
    tokens = a.samples * a.max_tokens
    rows = [["shared-prefix batched", round(batched, 2), round(tokens / batched, 1)],
            ["one sample at a time", round(single, 2), round(tokens / single, 1)]]
    report(f"sampling_{a.shape}", ["method", "seconds", "tokens/s"], rows,
           {"speedup": round(single / batched, 2), "device": be.device, "samples": a.samples,
            "max_tokens": a.max_tokens, "shape": a.shape})


if __name__ == "__main__":
    main()
