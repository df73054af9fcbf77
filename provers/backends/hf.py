"""Hugging Face transformers: batched sampling with the prompt's KV cache computed once and shared.

The prompt (all but its last token) is prefilled once; its cache is copied and repeated for each batch
of samples, so N samples cost one prefill instead of N. bf16 on a GPU, float32 on the CPU.
"""

from __future__ import annotations

import copy

from bridge.errors import SetupError
from provers.backends.base import Prompt, SamplingParams


class TransformersBackend:
    def __init__(self, model: str, batch_size: int | None = None, device: str | None = None,
                 share_prefix: bool = True):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise SetupError("transformers/torch are not installed", 'pip install -e ".[ml]", or use --endpoint URL') from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tok = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        self.batch_size = batch_size or (64 if self.device.startswith("cuda") else 8)
        self.share_prefix = share_prefix
        self.name = f"transformers:{model}"
        pad = self.tok.pad_token_id
        self.pad_id = pad if pad is not None else self.tok.eos_token_id

    def _text(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def generate(self, prompt: Prompt, n: int, params: SamplingParams) -> list[str]:
        torch = self.torch
        ids = self.tok(self._text(prompt), return_tensors="pt", add_special_tokens=isinstance(prompt, str)).input_ids
        ids = ids.to(self.device)
        out: list[str] = []
        with torch.inference_mode():
            prefix_cache = None
            if self.share_prefix and ids.shape[1] > 1:
                prefix_cache = self.model(ids[:, :-1], use_cache=True).past_key_values
            done = 0
            while done < n:
                b = min(self.batch_size, n - done)
                torch.manual_seed(params.seed * 1_000_003 + done)
                kwargs = {}
                if prefix_cache is not None:
                    cache = copy.deepcopy(prefix_cache)
                    cache.batch_repeat_interleave(b)
                    kwargs["past_key_values"] = cache
                gen = self.model.generate(
                    ids.expand(b, -1), attention_mask=torch.ones(b, ids.shape[1], dtype=torch.long, device=self.device),
                    do_sample=params.temperature > 0, temperature=params.temperature if params.temperature > 0 else None,
                    top_p=params.top_p, max_new_tokens=params.max_tokens, pad_token_id=self.pad_id, **kwargs)
                out += self.tok.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
                done += b
        return out
