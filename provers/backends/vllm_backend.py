"""vLLM, when installed (``pip install -e ".[vllm]"``): prefix caching shares the prompt across samples."""

from __future__ import annotations

from bridge.errors import SetupError
from provers.backends.base import Prompt, SamplingParams


class VLLMBackend:
    def __init__(self, model: str):
        try:
            import vllm
        except ImportError:
            raise SetupError("vLLM is not installed", 'pip install -e ".[vllm]", or drop --vllm') from None
        from provers.backends.hf import NEXT_STEP_MODEL, model_source

        self.vllm = vllm
        source, _ = model_source(model)  # a missing model fails here, in one line, before vLLM starts
        try:
            self.llm = vllm.LLM(model=source, enable_prefix_caching=True)
        except (OSError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise SetupError(f"cannot load the model {model} in vLLM: {first}", NEXT_STEP_MODEL) from None
        self.name = f"vllm:{model}"

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        sp = self.vllm.SamplingParams(n=n, temperature=params.temperature, top_p=params.top_p,
                                      max_tokens=params.max_tokens, seed=params.seed)
        if isinstance(prompt, str):
            out = self.llm.generate([prompt], sp, use_tqdm=False)
        else:
            out = self.llm.chat([prompt], sp, use_tqdm=False)
        return [o.text for o in out[0].outputs]
