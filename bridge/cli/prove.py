"""``bridge prove DATASET``: sample whole proofs, verify each in Lean, report pass@k."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tqdm import tqdm

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.data.loader import load_dataset
from bridge.errors import InputError
from bridge.eval.report import build_report, write_report
from bridge.runs.store import RunStore

DEFAULT_MODEL = "deepseek-ai/DeepSeek-Prover-V1.5-RL"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prove",
        help="sample N proofs per problem from a prover model, verify them, report Lean pass@k",
        description="Sample --samples whole proofs per problem, verify every one in Lean (generation and "
        "verification overlap), store everything in --run-dir (rerun the same command to resume), and "
        "write RUN_DIR/report.json, report.md and passk.png. DATASET is a named dataset (bridge data "
        "list) or a JSONL file of problems.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K problems of the split, in file order")
    p.add_argument("--samples", type=int, default=64, metavar="N", help="samples per problem (default 64)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name or path (default {DEFAULT_MODEL})")
    p.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server's base URL, e.g. "
                   "http://host:8000/v1 (no torch needed)")
    p.add_argument("--vllm", action="store_true", help="generate with vLLM in this process")
    p.add_argument("--template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="prompt template family (default: chosen from the model name)")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/DATASET_SPLIT_MODEL)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=0, help="error-feedback rounds after the first (default 0)")
    p.add_argument("--stop-on-first", action="store_true",
                   help="stop sampling a problem once one proof is verified (pass@k then not computable)")
    p.add_argument("--batch-size", type=int, help="samples per forward batch (transformers backend)")
    add_config_flags(p)
    p.set_defaults(func=run)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def run(args: argparse.Namespace) -> int:
    from bridge.verify.api import Verifier
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.pipeline import Pipeline, ProveSettings
    from provers.templates import family_for

    cfg = config_from_args(args)
    if args.samples < 1:
        raise InputError("--samples must be at least 1")
    problems = load_dataset(args.dataset, cfg, split=args.split)
    if not problems:
        raise InputError(f"{args.dataset}: no problems in split {args.split!r}", "choose another --split")
    if not problems[0].formal_statement:
        raise InputError(f"{args.dataset} has no formal statements", "it is input for autoformalization, not proving")
    if args.limit is not None:
        problems = problems[: args.limit]
    family = family_for(args.model, args.template)
    params = SamplingParams(args.temperature, args.top_p, args.max_tokens, args.seed)
    run_dir = Path(args.run_dir or f"runs/{_slug(args.dataset)}_{args.split}_{_slug(args.model)}")
    with Verifier(cfg) as verifier, RunStore(run_dir) as store:
        meta = {"dataset": args.dataset, "split": args.split, "model": args.model, "template": family.name,
                "sampling": params.to_json(), "samples": args.samples, "lean_version": verifier.launch.lean_version,
                "endpoint": args.endpoint, "rounds": args.rounds, "limit": args.limit}
        store.check_or_set_meta(meta, fixed=("dataset", "split", "model", "template", "sampling", "samples"))
        store.add_problems(problems)
        eprint(f"run directory: {run_dir} ({len(problems)} problems x {args.samples} samples, "
               f"template {family.name}, Lean {verifier.launch.lean_version})")
        backend = make_backend(args.model, endpoint=args.endpoint, batch_size=args.batch_size, use_vllm=args.vllm)
        total = len(problems) * args.samples
        done_before = sum(n for n, _ in store.counts().values())
        bar = tqdm(total=total, initial=done_before, desc="verified", unit="sample", file=sys.stderr,
                   dynamic_ncols=True)
        proved = [0]

        def on_verdict(v: object) -> None:
            if getattr(v, "verdict", "") == "proved":
                proved[0] += 1
            if "/0/" in getattr(v, "id", ""):
                bar.update(1)
            bar.set_postfix(solved=len(pipe.solved), refresh=False)

        # all of a problem's samples in one call: the backend shares the prompt's KV cache across them
        settings = ProveSettings(samples=args.samples, rounds=args.rounds, stop_on_first=args.stop_on_first,
                                 params=params, chunk=args.samples)
        pipe = Pipeline(backend, family, verifier, store, settings, on_verdict=on_verdict)
        try:
            pipe.run(problems)
        finally:
            bar.close()
        report = build_report(store)
    paths = write_report(run_dir, report)
    ks = ", ".join(f"pass@{k} {100 * v:.1f}%" for k, v in report["pass_at_k"].items() if v is not None)
    print(f"{report['solved']}/{report['problems_total']} problems solved; {ks}")
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0
