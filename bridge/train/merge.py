"""``bridge merge ADAPTER --out DIR``: a LoRA adapter merged into its base, saved as a plain transformers
model (``config.json``, safetensors weights, the tokenizer) that transformers and vLLM load without peft.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.errors import InputError, SetupError
from bridge.jsonl import write_json

DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class MergeConfig:
    adapter: Path
    out: Path
    base: str | None = None  # default: the adapter's base_model_name_or_path
    dtype: str = "auto"  # "auto": the base model's own dtype (config.json), else float32
    overwrite: bool = False


def adapter_base(adapter: Path) -> str:
    """The base model an adapter was trained on, from its ``adapter_config.json``."""
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.is_file():
        raise InputError(f"{adapter}: not a peft adapter (no adapter_config.json)",
                         "give the adapter/ directory that `bridge train sft` or `bridge iterate` wrote")
    base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise InputError(f"{cfg} names no base model", "give it with --base")
    return str(base)


def merge(cfg: MergeConfig) -> dict[str, Any]:
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise SetupError(f"merging needs torch, transformers and peft ({e.name} is missing)",
                         'pip install -e ".[ml]"') from None
    from bridge.models import NEXT_STEP_MODEL, model_source

    out = Path(cfg.out)
    if (out / "config.json").exists() and not cfg.overwrite:
        raise InputError(f"{out} already holds a model", "give another --out, or --overwrite")
    if cfg.dtype not in DTYPES:
        raise InputError(f"--dtype {cfg.dtype}: one of {', '.join(DTYPES)}")
    base = cfg.base or adapter_base(cfg.adapter)
    source, offline = model_source(base)
    dtype: Any = "auto" if cfg.dtype == "auto" else getattr(torch, cfg.dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=offline)
    except Exception as e:  # noqa: BLE001 - one message with the next step
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise SetupError(f"cannot load the base model {base}: {type(e).__name__}: {first}", NEXT_STEP_MODEL) from None
    merged = PeftModel.from_pretrained(model, str(cfg.adapter)).merge_and_unload()
    tok_source = cfg.adapter if (Path(cfg.adapter) / "tokenizer_config.json").is_file() else source
    tok = AutoTokenizer.from_pretrained(str(tok_source), local_files_only=True if tok_source == cfg.adapter else offline)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    info = {"base_model": base, "adapter": str(Path(cfg.adapter).resolve()), "dtype": str(merged.dtype),
            "parameters": sum(p.numel() for p in merged.parameters())}
    write_json(tmp / "bridge_merge.json", info)
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return info
