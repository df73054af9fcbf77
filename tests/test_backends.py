"""The transformers backend on the CPU: the shared-prefix cache gives the same samples as no sharing."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")


def test_shared_prefix_equals_plain_sampling(tmp_path: Path) -> None:
    from provers.backends.base import SamplingParams
    from provers.backends.hf import TransformersBackend
    from tests.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    prompt = "Complete the following Lean 4 code:\n\n```lean4\ntheorem foo (x : Nat) : x + 0 = x := by\n"
    params = SamplingParams(temperature=0.0, max_tokens=12, seed=0)
    shared = TransformersBackend(str(path), device="cpu", batch_size=3).generate(prompt, 5, params)
    plain = TransformersBackend(str(path), device="cpu", batch_size=3, share_prefix=False).generate(prompt, 5, params)
    assert shared == plain and len(shared) == 5
    chat = TransformersBackend(str(path), device="cpu").generate([{"role": "user", "content": "prove it"}], 2,
                                                                 SamplingParams(max_tokens=6, seed=1))
    assert len(chat) == 2
