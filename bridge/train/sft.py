"""``bridge train sft``: one LoRA (QLoRA with bitsandbytes on a GPU) SFT run with trl's ``SFTTrainer``.

Prompt/completion rows (text for completion-mode families, chat turns for chat families), loss on the
completion only. Writes ``OUT/adapter/`` (peft: ``adapter_config.json``, ``adapter_model.safetensors``,
the tokenizer) and then ``OUT/training_summary.json``; the summary is written last, so its presence
means the run finished (a killed run leaves only ``OUT/.adapter.partial`` and ``OUT/.trainer``, removed by
the next run).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge.errors import InputError, SetupError
from bridge.jsonl import write_json
from bridge.version import __version__
from provers.templates import Family

SUMMARY = "training_summary.json"
ADAPTER = "adapter"


@dataclass
class LoraSFTConfig:
    """The knobs of one SFT run (trl's ``SFTConfig`` and peft's ``LoraConfig`` get them)."""

    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"  # peft's "all-linear", or a comma-separated list of module names
    epochs: float = 1.0
    max_steps: int = -1  # > 0: stop after that many optimizer steps, whatever the epochs
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    warmup: float = 0.03  # a fraction of the steps (< 1) or a step count
    weight_decay: float = 0.0
    batch_size: int = 4  # per device
    grad_accum: int = 1
    max_length: int = 2048  # tokens per sequence (the packed block length with packing)
    packing: bool = False
    quantize: str = "auto"  # "auto": 4-bit (QLoRA) when bitsandbytes and a GPU are there; "4bit"; "none"
    device: str | None = None  # "cpu" | "cuda"; None: cuda when available
    gradient_checkpointing: bool | None = None  # None: on a GPU only
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 0  # > 0: checkpoints in OUT/.trainer every that many steps; a rerun resumes from the last


# -- pure helpers ---------------------------------------------------------------------------------------


def parameter_counts(model: Any) -> dict[str, Any]:
    """{total, trainable, frozen, ratio} counted from the model's parameters (shared tensors once; a
    bitsandbytes 4-bit tensor packs two weights per byte, counted as peft counts it)."""
    total = trainable = 0
    for p in model.parameters():
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2 * (p.element_size() if hasattr(p, "element_size") else 1)
        total += n
        if p.requires_grad:
            trainable += n
    return {"total": total, "trainable": trainable, "frozen": total - trainable,
            "ratio": trainable / total if total else 0.0}


def state_digest(state: dict[str, Any]) -> str:
    """sha256 over an adapter's tensors (sorted names, float32 bytes): the same weights give the same
    digest whether read from a file or from a model in memory."""
    import torch

    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().to("cpu", torch.float32).contiguous()
        h.update(k.encode() + b"\0" + str(tuple(t.shape)).encode() + b"\0")
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def adapter_digest(adapter: Path) -> str:
    """:func:`state_digest` of a saved peft adapter (``adapter_model.safetensors``)."""
    from safetensors.torch import load_file

    return state_digest(load_file(str(Path(adapter) / "adapter_model.safetensors")))


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SetupError("--device cuda, but torch sees no CUDA GPU",
                         "install the CUDA build of torch on a GPU machine, or use --device cpu")
    return device


def use_4bit(quantize: str, device: str) -> bool:
    if quantize == "none":
        return False
    try:
        import bitsandbytes  # noqa: F401
        have = True
    except ImportError:
        have = False
    if quantize == "4bit" and not (have and device.startswith("cuda")):
        raise SetupError("--quantize 4bit needs bitsandbytes and a CUDA GPU",
                         "pip install bitsandbytes on a GPU machine, or --quantize none")
    return have and device.startswith("cuda")


def _token_counts(ds: Any) -> tuple[int, int]:
    """(tokens, tokens that carry loss) of a tokenized dataset, computed in Arrow (fast on large sets)."""
    import pyarrow.compute as pc

    table = ds.data
    tokens = int(pc.sum(pc.list_value_length(table.column("input_ids"))).as_py() or 0)
    if "labels" in table.column_names:
        flat = pc.list_flatten(table.column("labels"))
        loss = int(pc.sum(pc.not_equal(flat, -100)).as_py() or 0)
    elif "completion_mask" in table.column_names:
        loss = int(pc.sum(pc.list_flatten(table.column("completion_mask"))).as_py() or 0)
    else:
        loss = tokens
    return tokens, loss


def _versions() -> dict[str, str]:
    out = {"bridge": __version__, "python": platform.python_version()}
    for mod in ("torch", "transformers", "trl", "peft", "datasets"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:  # pragma: no cover
            pass
    return out


# -- the run ----------------------------------------------------------------------------------------------


def finished(out: Path) -> bool:
    return (Path(out) / SUMMARY).is_file()


def train_sft(train: Any, model: str, out: Path, family: Family, cfg: LoraSFTConfig,
              init_adapter: str | Path | None = None, extra: dict[str, Any] | None = None,
              log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fine-tune ``model`` (from ``init_adapter`` when given, else a fresh LoRA) on ``train`` (a
    ``datasets.Dataset`` with ``prompt``/``completion``); returns the summary written to OUT."""
    try:
        import torch
        import transformers
        from peft import LoraConfig, PeftModel, get_peft_model
        from peft.utils import get_peft_model_state_dict
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import SFTConfig, SFTTrainer
    except ImportError as e:
        raise SetupError(f"training needs torch, transformers, peft and trl ({e.name} is missing)",
                         'pip install -e ".[ml]"') from None
    from bridge.models import NEXT_STEP_MODEL, model_source

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging, trainer_dir = out / ".adapter.partial", out / ".trainer"
    shutil.rmtree(staging, ignore_errors=True)
    if not finished(out):
        shutil.rmtree(out / ADAPTER, ignore_errors=True)  # from a run killed between the rename and the summary
    if len(train) == 0:
        raise InputError("no training rows")
    if not {"prompt", "completion"} <= set(train.column_names):
        raise InputError(f"the training data has columns {train.column_names}, not `prompt` and `completion`")
    chat = not isinstance(train[0]["prompt"], str)
    device = resolve_device(cfg.device)
    cuda = device.startswith("cuda")
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float32
    quant = use_4bit(cfg.quantize, device)
    checkpointing = cuda if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    source, offline = model_source(model)
    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": offline}
    if quant:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        tok = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        base = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except Exception as e:  # noqa: BLE001 - hub, file and format errors: one message with the next step
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise SetupError(f"cannot load the model {model}: {type(e).__name__}: {first}", NEXT_STEP_MODEL) from None
    if chat and not getattr(tok, "chat_template", None):
        raise InputError(f"chat rows (template {family.name}), but {model}'s tokenizer has no chat template",
                         "use a completion-mode template (--template deepseek-v1.5) or a chat model")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # what was really loaded, recorded in the summary: a silent float32 fallback or a 4-bit load that did
    # not happen shows there (the GPU tests read these)
    loaded = {"weights_dtype": str(base.get_input_embeddings().weight.dtype).replace("torch.", ""),
              "linear4bit_modules": sum(1 for m in base.modules() if type(m).__name__ == "Linear4bit")}
    if quant:
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=checkpointing)
    transformers.set_seed(cfg.seed)  # the LoRA matrices are initialised at random
    if init_adapter:
        if not (Path(init_adapter) / "adapter_config.json").is_file():
            raise InputError(f"{init_adapter}: not a peft adapter (no adapter_config.json)")
        peft_model = PeftModel.from_pretrained(base, str(init_adapter), is_trainable=True)
    else:
        targets: Any = cfg.target_modules if cfg.target_modules == "all-linear" else [
            t.strip() for t in cfg.target_modules.split(",") if t.strip()]
        peft_model = get_peft_model(base, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                     lora_dropout=cfg.lora_dropout, target_modules=targets,
                                                     task_type="CAUSAL_LM"))
    init_digest = state_digest(get_peft_model_state_dict(peft_model))
    counts = parameter_counts(peft_model)
    losses: list[dict[str, float]] = []

    class Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append({"step": state.global_step, "loss": float(logs["loss"]),
                               "learning_rate": float(logs.get("learning_rate", 0.0)),
                               "epoch": float(logs.get("epoch", 0.0))})

    args = SFTConfig(
        output_dir=str(trainer_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup,
        weight_decay=cfg.weight_decay, logging_steps=cfg.logging_steps, logging_first_step=True,
        save_strategy="steps" if cfg.save_steps > 0 else "no", save_steps=max(cfg.save_steps, 1),
        bf16=bf16, fp16=False, gradient_checkpointing=checkpointing, use_cpu=not cuda, report_to="none",
        max_length=cfg.max_length, packing=cfg.packing, completion_only_loss=True, seed=cfg.seed,
        data_seed=cfg.seed, include_num_input_tokens_seen=True)
    trainer = SFTTrainer(model=peft_model, args=args, train_dataset=train.select_columns(["prompt", "completion"]),
                         processing_class=tok, callbacks=[Losses()])
    tokens, loss_tokens = _token_counts(trainer.train_dataset)
    resume = None
    if cfg.save_steps > 0 and trainer_dir.is_dir():
        ckpts = sorted(trainer_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        resume = str(ckpts[-1]) if ckpts else None
    log(f"training: {len(train)} rows, {tokens} tokens, {counts['trainable']:,} of {counts['total']:,} parameters "
        f"trainable, on {device}" + (" (4-bit base)" if quant else "") + (f", from {init_adapter}" if init_adapter else ""))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - t0
    trainer.model.save_pretrained(str(staging))
    tok.save_pretrained(str(staging))
    final_digest = state_digest(get_peft_model_state_dict(trainer.model))
    staging.replace(out / ADAPTER)
    seen = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
    summary: dict[str, Any] = {
        "kind": "lora-sft",
        "trained": True,
        "base_model": model,
        "template": family.name,
        "format": "chat" if chat else "completion",
        "init_adapter": str(init_adapter) if init_adapter else None,
        "init_adapter_state_sha256": init_digest,
        "adapter": str(out / ADAPTER),
        "adapter_state_sha256": final_digest,
        "data": {"rows": len(train), "columns": list(train.column_names),
                 "bands": _column_counts(train, "band"), "sources": _column_counts(train, "source")},
        "hyperparameters": {**asdict(cfg), "device": device, "dtype": str(dtype).replace("torch.", ""),
                            "quantization": "4-bit nf4 (QLoRA)" if quant else None,
                            "gradient_checkpointing": checkpointing, "completion_only_loss": True,
                            "effective_batch_size": cfg.batch_size * cfg.grad_accum},
        "loss": losses,
        "train_loss": float(result.training_loss),
        "steps": int(trainer.state.global_step),
        "epochs": float(trainer.state.epoch or 0.0),
        "train_tokens": tokens,
        "loss_tokens": loss_tokens,
        "tokens_seen": seen,
        "tokens_per_second": seen / wall if wall > 0 else None,
        "wall_time_s": wall,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "model": {"parameter_counts": counts, "architecture": getattr(base.config, "model_type", None), **loaded},
        "resumed_from_checkpoint": resume,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "versions": _versions(),
        **(extra or {}),
    }
    write_json(out / SUMMARY, summary)
    shutil.rmtree(trainer_dir, ignore_errors=True)
    del trainer, peft_model, base
    free_memory()
    return summary


def _column_counts(ds: Any, col: str) -> dict[str, int]:
    if col not in ds.column_names:
        return {}
    out: dict[str, int] = {}
    for v in ds[col]:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def untrained_summary(out: Path, model: str, family: Family, init_adapter: str | Path | None, reason: str,
                      extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of a round with nothing to train on: the previous adapter (copied to OUT/adapter, so
    every round has one) stands."""
    out = Path(out)
    if init_adapter and not (out / ADAPTER).is_dir():
        tmp = out / ".adapter.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(init_adapter, tmp)
        tmp.replace(out / ADAPTER)
    counts = None
    if init_adapter:
        counts = json.loads((Path(init_adapter).parent / SUMMARY).read_text(encoding="utf-8")).get(
            "model", {}).get("parameter_counts") if (Path(init_adapter).parent / SUMMARY).is_file() else None
    summary = {"kind": "lora-sft", "trained": False, "reason": reason, "base_model": model, "template": family.name,
               "init_adapter": str(init_adapter) if init_adapter else None,
               "adapter": str(out / ADAPTER) if init_adapter else None,
               "adapter_state_sha256": adapter_digest(out / ADAPTER) if init_adapter else None,
               "model": {"parameter_counts": counts}, "loss": [], "train_tokens": 0, "versions": _versions(),
               **(extra or {})}
    write_json(out / SUMMARY, summary)
    return summary


def free_memory() -> None:
    """Give back what a model held (between sampling and training in one process)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass
