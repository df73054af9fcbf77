"""Hugging Face transformers: batched sampling with the prompt's KV cache computed once and shared.

The prompt (all but its last token) is prefilled once; its cache is copied and repeated for each batch
of samples, so N samples cost one prefill instead of N. bf16 on a GPU, float32 on the CPU.
"""

from __future__ import annotations

import copy
from pathlib import Path

from bridge.errors import SetupError
from bridge.models import NEXT_STEP_MODEL, model_source  # noqa: F401 - importable from here too
from provers.backends.base import Prompt, SamplingParams


def merged_adapter(model: object, adapter: str) -> object:
    """``model`` with a peft (LoRA) adapter merged in: sampling then runs at the base model's speed, and
    the shared-prefix cache works unchanged."""
    try:
        from peft import PeftModel
    except ImportError:
        raise SetupError("peft is not installed: an adapter cannot be loaded", 'pip install -e ".[ml]"') from None
    if not (Path(adapter).expanduser() / "adapter_config.json").is_file():
        raise SetupError(f"--adapter {adapter}: no adapter_config.json there (not a peft adapter)",
                         "give the adapter/ directory that `bridge train sft` or `bridge iterate` wrote")
    return PeftModel.from_pretrained(model, str(Path(adapter).expanduser())).merge_and_unload()


class TransformersBackend:
    def __init__(self, model: str, batch_size: int | None = None, device: str | None = None,
                 share_prefix: bool = True, adapter: str | None = None):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise SetupError("transformers/torch are not installed", 'pip install -e ".[ml]", or use --endpoint URL') from None
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        source, offline = model_source(model)
        try:
            self.tok = AutoTokenizer.from_pretrained(source, local_files_only=offline)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=offline)
        except Exception as e:  # noqa: BLE001 - hub, file and format errors: one message with the next step
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise SetupError(f"cannot load the model {model}: {type(e).__name__}: {first}", NEXT_STEP_MODEL) from None
        if adapter:
            self.model = merged_adapter(self.model, adapter)
        self.model = self.model.to(self.device).eval()
        self.batch_size = batch_size or (64 if self.device.startswith("cuda") else 8)
        self.share_prefix = share_prefix
        self.name = f"transformers:{model}" + (f"+{adapter}" if adapter else "")
        self.adapter = adapter
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
