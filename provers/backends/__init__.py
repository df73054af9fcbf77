"""Model backends behind one interface: ``generate(prompt, n, params) -> n completions``."""

from __future__ import annotations

from provers.backends.base import Backend, SamplingParams


def make_backend(model: str, endpoint: str | None = None, api_key: str | None = None,
                 batch_size: int | None = None, device: str | None = None, use_vllm: bool = False,
                 adapter: str | None = None) -> Backend:
    """An endpoint backend when ``endpoint`` is given (core install), else vLLM or transformers.

    ``adapter``: a peft (LoRA) adapter directory merged into the transformers model (vLLM with LoRA and
    endpoints serving an adapter: ``bridge.train.sampling``)."""
    if endpoint:
        from provers.backends.openai_compat import EndpointBackend

        return EndpointBackend(endpoint, model, api_key=api_key)
    if use_vllm:
        from provers.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model)
    from provers.backends.hf import TransformersBackend

    return TransformersBackend(model, batch_size=batch_size, device=device, adapter=adapter)


__all__ = ["Backend", "SamplingParams", "make_backend"]
