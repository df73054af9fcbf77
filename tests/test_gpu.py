"""GPU paths (run where CUDA is found): the transformers backend in bf16 with the shared prompt cache."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu


def test_shared_prefix_sampling_on_gpu(tmp_path: Path) -> None:
    from provers.backends.base import SamplingParams
    from provers.backends.hf import TransformersBackend
    from tests.tiny_model import build_tiny_model

    path = build_tiny_model(tmp_path / "m")
    b = TransformersBackend(str(path), device="cuda", batch_size=16)
    outs = b.generate("theorem foo (x : Nat) : x + 0 = x := by\n", 32, SamplingParams(max_tokens=16, seed=3))
    assert len(outs) == 32 and all(isinstance(o, str) for o in outs)
    again = b.generate("theorem foo (x : Nat) : x + 0 = x := by\n", 32, SamplingParams(max_tokens=16, seed=3))
    assert outs == again  # seeded sampling is reproducible
