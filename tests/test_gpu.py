"""GPU paths (run where CUDA is found; skipped with the reason elsewhere). Each checks what it says:

* LoRA SFT on CUDA trains a bf16 model (not a silent float32 fallback: the loaded weights' dtype is read
  back from the summary), as QLoRA (4-bit nf4 modules really loaded) when bitsandbytes is installed and in
  plain bf16 otherwise, and its loss falls on a memorizable set;
* the transformers backend samples in bf16, and sampling with the shared prompt cache has the same
  distribution as sampling without it (the CPU test checks greedy equality; on CUDA, where kernels differ by
  batch shape, the two are compared with each other and with the model's exact probabilities)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


def _bf16() -> None:
    import torch

    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16 (compute capability below 8.0): the bf16 path cannot be checked here")


def test_sft_on_a_gpu_is_bf16_qlora_when_possible_and_learns(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    import datasets
    from bridge.train.sft import LoraSFTConfig, train_sft
    from provers.templates import FAMILIES
    from tests.test_train_support import build_word_model

    _bf16()
    model = build_word_model(tmp_path / "model", hidden=64, init_std=0.3)
    rows = [{"prompt": f"theorem t{i} := by\n", "completion": "  intro h\n  exact h <;> simp\n```"} for i in range(4)]
    s = train_sft(datasets.Dataset.from_list(rows), str(model), tmp_path / "out", FAMILIES["deepseek-v1.5"],
                  LoraSFTConfig(max_steps=30, logging_steps=1, device="cuda", packing=True, warmup=0,
                                learning_rate=1e-2, lr_scheduler="constant", lora_r=4, lora_dropout=0.0))
    h, m = s["hyperparameters"], s["model"]
    assert h["device"].startswith("cuda") and h["dtype"] == "bfloat16"
    assert m["weights_dtype"] == "bfloat16"  # what was loaded, not only what was asked for
    if importlib.util.find_spec("bitsandbytes") is not None:
        assert h["quantization"] == "4-bit nf4 (QLoRA)" and m["linear4bit_modules"] > 0
    else:
        assert h["quantization"] is None and m["linear4bit_modules"] == 0
    losses = [x["loss"] for x in s["loss"]]
    assert len(losses) == 30 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:3]) / 3  # it learns: the loss falls
    assert s["peak_memory_gb"] > 0 and s["tokens_per_second"] > 0
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()


def _chi2_z(observed: list[float], expected: list[float]) -> float:
    """Wilson-Hilferty z of Pearson's chi-square (no scipy): about N(0, 1) when observed follows expected."""
    df = len(observed) - 1
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return ((chi2 / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))


def _exact(backend: object, prompt: str, steps: int) -> dict[str, float]:
    """The model's exact distribution over the decoded ``steps``-token continuations (temperature 1, no
    top-p), by teacher forcing every prefix on the same GPU model."""
    import torch

    tok, model = backend.tok, backend.model  # type: ignore[attr-defined]
    ids = tok(prompt, return_tensors="pt").input_ids.to(model.device)
    eos = tok.eos_token_id
    out: Counter[str] = Counter()
    frontier = [([], 1.0)]
    with torch.inference_mode():
        for step in range(steps):
            nxt = []
            for seq, p in frontier:
                x = torch.cat([ids, torch.tensor([seq], dtype=torch.long, device=model.device)], 1) if seq else ids
                probs = torch.softmax(model(x).logits[0, -1].float(), -1).tolist()
                for t, q in enumerate(probs):
                    if p * q < 1e-7:
                        continue
                    if t == eos or step == steps - 1:
                        out[tok.decode(seq + [t], skip_special_tokens=True)] += p * q
                    else:
                        nxt.append((seq + [t], p * q))
            frontier = nxt
    return dict(out)


def _homogeneity_z(a: list[int], b: list[int]) -> float:
    """Wilson-Hilferty z of the 2 x k chi-square homogeneity test of two count vectors."""
    na, nb = sum(a), sum(b)
    chi2 = 0.0
    for x, y in zip(a, b, strict=True):
        col = x + y
        if col == 0:
            continue
        ea, eb = col * na / (na + nb), col * nb / (na + nb)
        chi2 += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb
    df = len(a) - 1
    return ((chi2 / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))


def check_shared_prefix_distribution(model_dir: Path, device: str, n: int = 4096, steps: int = 2) -> None:
    """Sampling with and without the shared prompt cache: each against the model's exact distribution of
    ``steps``-token continuations, and the two against each other (chi-square, categories expected 10 times
    or more, the rest pooled)."""
    from provers.backends.base import SamplingParams
    from provers.backends.hf import TransformersBackend

    prompt = "  intro h\n  exact h <;>"
    shared = TransformersBackend(str(model_dir), device=device, batch_size=512)
    plain = TransformersBackend(str(model_dir), device=device, batch_size=512, share_prefix=False)
    params = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=steps, seed=3)
    a = Counter(shared.generate(prompt, n, params))
    b = Counter(plain.generate(prompt, n, dataclasses.replace(params, seed=4)))
    assert a == Counter(shared.generate(prompt, n, params))  # seeded sampling is reproducible
    exact = _exact(shared, prompt, steps)
    assert abs(sum(exact.values()) - 1) < 1e-3
    cats = [c for c, p in exact.items() if p * n >= 10]
    assert len(cats) >= 3, "the tiny model's distribution is too flat for a test with this many samples"
    rest = max(1 - sum(exact[c] for c in cats), 0.0)

    def counts(got: Counter[str]) -> list[int]:
        return [got.get(c, 0) for c in cats] + [n - sum(got.get(c, 0) for c in cats)]

    for got in (a, b):
        exp = [exact[c] * n for c in cats] + [rest * n]
        obs = counts(got)
        if exp[-1] < 1:  # nothing left to pool
            obs, exp = obs[:-1], exp[:-1]
        assert _chi2_z(obs, exp) < 5, (got.most_common(8), sorted(exact.items(), key=lambda kv: -kv[1])[:8])
    assert _homogeneity_z(counts(a), counts(b)) < 5, (a.most_common(8), b.most_common(8))


def test_shared_prefix_sampling_on_gpu_has_the_unshared_distribution(tmp_path: Path) -> None:
    import torch

    from provers.backends.hf import TransformersBackend
    from tests.test_train_support import build_word_model

    _bf16()
    path = build_word_model(tmp_path / "m", init_std=0.3)  # peaked: few continuations carry the mass
    assert TransformersBackend(str(path), device="cuda").model.dtype == torch.bfloat16  # no float32 fallback
    check_shared_prefix_distribution(path, "cuda")
