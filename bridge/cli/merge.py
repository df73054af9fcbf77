"""``bridge merge ADAPTER --out DIR``: merge a LoRA adapter into its base model and save a plain model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import eprint


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bridge.train.merge import MergeConfig, merge

    info = merge(MergeConfig(adapter=Path(args.adapter), out=Path(args.out), base=args.base, dtype=args.dtype,
                             overwrite=args.overwrite))
    print(json.dumps(info))
    eprint(f"wrote {args.out}")
    return 0
