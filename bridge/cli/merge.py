"""``bridge merge ADAPTER --out DIR``: merge a LoRA adapter into its base model and save a plain model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import eprint
from bridge.cli.publish import add_push_flags, preflight, push_merged


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge a LoRA adapter into its base model (a model transformers and vLLM load)",
                       description="Load the adapter's base model (its adapter_config.json names it, or --base), "
                       "merge the LoRA weights in, and save DIR as a plain transformers model (config.json, "
                       "safetensors weights, the tokenizer, bridge_merge.json) that transformers and vLLM load "
                       "without peft.")
    p.add_argument("adapter", metavar="ADAPTER")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--base", help="the base model (default: the adapter's base_model_name_or_path)")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                   help="weights' dtype (default auto: the base model's own)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in DIR")
    p.add_argument("--gguf", metavar="OUT.gguf", help="also write the merged model as one GGUF file (weights and "
                   "tokenizer) that llama.cpp loads; llama and qwen2 architectures")
    p.add_argument("--gguf-type", choices=("f16", "q8_0"), default="f16",
                   help="GGUF weights' type: f16 (default) or q8_0 (8-bit blocks, about half the size)")
    add_push_flags(p, "the merged model (with the GGUF file when written), a card and the training summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bridge.train.merge import MergeConfig, merge

    preflight(args)
    gguf = Path(args.gguf) if args.gguf else None
    if gguf is not None:
        from bridge.publish.gguf_export import check_gguf_out

        check_gguf_out(gguf, args.overwrite)
    info = merge(MergeConfig(adapter=Path(args.adapter), out=Path(args.out), base=args.base, dtype=args.dtype,
                             overwrite=args.overwrite))
    eprint(f"wrote {args.out}")
    if gguf is not None:
        from bridge.publish.gguf_export import write_gguf

        info["gguf"] = write_gguf(Path(args.out), gguf, args.gguf_type, log=eprint)
        eprint(f"wrote {gguf}")
    if args.push_to_hub:
        info["hub"] = push_merged(Path(args.out), info, Path(args.adapter), args, gguf)
    print(json.dumps(info))
    return 0
