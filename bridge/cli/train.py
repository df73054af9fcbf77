"""``bridge train sft DATA --model M --out DIR``: one LoRA SFT run (trl SFTTrainer + a peft adapter)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import eprint
from bridge.cli.publish import add_push_flags, preflight, push_run
from bridge.errors import InputError

DEFAULT_MODEL = "deepseek-ai/DeepSeek-Prover-V1.5-RL"


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """The LoRA SFT flags, shared by ``train sft`` and ``iterate``."""
    g = p.add_argument_group("training (LoRA SFT)")
    g.add_argument("--epochs", type=float, default=1.0, help="epochs over the training rows (default 1)")
    g.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (default: "
                   "the epochs decide)")
    g.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    g.add_argument("--lr-scheduler", default="cosine", help="transformers scheduler name (default cosine)")
    g.add_argument("--warmup", type=float, default=0.03, help="warmup: a fraction of the steps (< 1) or steps")
    g.add_argument("--lora-r", type=int, default=16)
    g.add_argument("--lora-alpha", type=int, default=32)
    g.add_argument("--lora-dropout", type=float, default=0.05)
    g.add_argument("--target-modules", default="all-linear",
                   help="modules that get LoRA: all-linear (default) or names, comma-separated (q_proj,v_proj)")
    g.add_argument("--train-batch-size", type=int, default=4, help="sequences per device per step (default 4)")
    g.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps (default 1)")
    g.add_argument("--max-length", type=int, default=2048, help="tokens per sequence (default 2048)")
    g.add_argument("--packing", action="store_true", help="pack sequences into --max-length blocks")
    g.add_argument("--quantize", choices=("auto", "4bit", "none"), default="auto",
                   help="4-bit base model (QLoRA): auto = when bitsandbytes and a GPU are there (default)")
    g.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                   help="recompute activations to save memory (default: on a GPU only)")
    g.add_argument("--logging-steps", type=int, default=10, help="steps between logged losses (default 10)")
    g.add_argument("--save-steps", type=int, default=0,
                   help="checkpoint every N steps; a rerun after a kill resumes from the last (default: none)")
    g.add_argument("--train-seed", type=int, default=0)


def train_config_from_args(args: argparse.Namespace):  # -> LoraSFTConfig
    from bridge.train.sft import LoraSFTConfig

    for name in ("epochs", "lr", "train_batch_size", "grad_accum", "max_length", "lora_r", "logging_steps"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    return LoraSFTConfig(
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.lr,
        lr_scheduler=args.lr_scheduler, warmup=args.warmup, batch_size=args.train_batch_size,
        grad_accum=args.grad_accum, max_length=args.max_length, packing=args.packing, quantize=args.quantize,
        device=getattr(args, "device", None), gradient_checkpointing=args.gradient_checkpointing,
        seed=args.train_seed, logging_steps=args.logging_steps, save_steps=args.save_steps)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a prover model (LoRA SFT)",
                       description="Fine-tune a prover model. `bridge train sft DATA --model M --out DIR`.")
    tsub = p.add_subparsers(dest="train_command", metavar="JOB")
    s = tsub.add_parser(
        "sft", help="one LoRA SFT run with trl's SFTTrainer",
        description="One LoRA (QLoRA with bitsandbytes on a GPU) SFT run, loss on completions only. DATA is a "
        "`datasets` snapshot (save_to_disk directory, e.g. an iterate round's train/) or JSONL of "
        "{prompt, completion} rows (text, or chat messages), or of problems with a known `proof` (prompted with "
        "the family's template, the same text `bridge prove` sends). Writes DIR/adapter/ (peft) and then "
        "DIR/training_summary.json (hyperparameters, loss per logging step, tokens, wall time, "
        "model.parameter_counts).")
    s.add_argument("data", metavar="DATA")
    s.add_argument("--model", default=DEFAULT_MODEL, help=f"base model name or path (default {DEFAULT_MODEL})")
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="prompt template family (default: chosen from the model name)")
    s.add_argument("--init-adapter", metavar="ADAPTER", help="continue training this peft adapter")
    s.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    s.add_argument("--overwrite", action="store_true", help="train again into a DIR that has a finished run")
    add_train_flags(s)
    add_push_flags(s, "the adapter with its card (README.md) and training_summary.json")
    s.set_defaults(func=run_sft)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_sft(args: argparse.Namespace) -> int:
    from bridge.train.data import rows_for_training
    from bridge.train.sft import SUMMARY, finished, train_sft
    from provers.templates import family_for

    out = Path(args.out)
    if finished(out) and not args.overwrite:
        raise InputError(f"{out} already holds a finished run ({SUMMARY})", "give another --out, or --overwrite")
    if finished(out):
        (out / SUMMARY).unlink()
    family = family_for(args.model, args.template)
    cfg = train_config_from_args(args)
    preflight(args)
    train = rows_for_training(Path(args.data), family)
    summary = train_sft(train, args.model, out, family, cfg, init_adapter=args.init_adapter,
                        extra={"train_data": str(args.data)}, log=eprint)
    counts = summary["model"]["parameter_counts"]
    print(json.dumps({"adapter": summary["adapter"], "train_loss": summary["train_loss"],
                      "steps": summary["steps"], "train_tokens": summary["train_tokens"],
                      "parameter_counts": counts, "wall_time_s": round(summary["wall_time_s"], 2)}))
    eprint(f"wrote {out / 'adapter'} and {out / SUMMARY}")
    if args.push_to_hub:
        push_run(out, args)
    return 0
