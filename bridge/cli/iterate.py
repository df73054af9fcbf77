"""``bridge iterate POOL --model M --rounds R --samples N --run-dir DIR``: expert iteration (verified
proofs -> LoRA SFT -> a stronger prover, round after round)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.publish import add_push_flags, iteration, preflight, push_run
from bridge.cli.report import add_count_fast_gate_flag
from bridge.cli.train import DEFAULT_MODEL, add_train_flags, train_config_from_args
from bridge.errors import InputError
from bridge.runs.store import writable_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "iterate", help="expert iteration: prove, keep verified proofs, LoRA SFT, evaluate; round after round",
        description="Round K proves the still-unsolved statements of POOL (a dataset name or a JSONL of problem "
        "rows) plus canaries (statements known to be false) with the current model; keeps the verified proofs "
        "(deduplicated after normalising whitespace and comments, at most --max-per-statement per statement, "
        "short and distinct first), drops those decontamination matches to an evaluation set, re-checks them with "
        "--strict when the kernel checker is there, mixes them (band lean-formalized) with --informal rows; "
        "fine-tunes from the previous round's adapter; evaluates pass@k on --eval. A proved canary stops the run "
        "before training (exit 4). Everything goes into --run-dir (DIR/round-K/{samples,train,adapter,eval}, "
        "DIR/rounds.json): kill it at any point and rerun the same command to resume; finished rounds are never "
        "redone, and a larger --rounds adds rounds.")
    p.add_argument("pool", metavar="POOL")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"base model name or path (default {DEFAULT_MODEL})")
    p.add_argument("--rounds", type=int, default=1, metavar="R", help="rounds (default 1)")
    p.add_argument("--samples", type=int, default=16, metavar="N", help="samples per statement per round (default 16)")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/iterate_POOL_MODEL)")
    p.add_argument("--split", help="only this split of POOL (default: every split)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K problems of POOL")
    p.add_argument("--template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="prompt template family (default: chosen from the model name)")
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0, help="sampling seed of round 1 (round K uses seed + K - 1)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="for sampling (transformers) and training "
                   "(default: cuda when available)")
    p.add_argument("--batch-size", type=int, help="samples per forward batch (transformers backend)")
    g = p.add_argument_group("sampling backend (default: transformers with the round's adapter merged in)")
    g.add_argument("--vllm", action="store_true", help="vLLM in this process, with LoRA (one engine for all rounds)")
    g.add_argument("--vllm-memory", type=float, default=0.5,
                   help="vLLM's gpu_memory_utilization; training shares the GPU (default 0.5)")
    g.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server (vLLM) that serves the adapters")
    g.add_argument("--endpoint-lora", choices=("load", "none"), default="load",
                   help="load: ask the server to load each round's adapter (vLLM's /v1/load_lora_adapter; the "
                   "path must be readable by the server) and sample with its name (default); none: sample "
                   "from the server as it is")
    g.add_argument("--served-model", help="the base model's name on the endpoint (default: --model)")
    e = p.add_argument_group("held-out evaluation")
    e.add_argument("--eval", metavar="DATASET", help="pass@k on this dataset after each round (also decontaminated against)")
    e.add_argument("--eval-split", default="test")
    e.add_argument("--eval-samples", type=int, default=8, metavar="K", help="samples per held-out problem (default 8)")
    e.add_argument("--eval-limit", type=int, help="only the first K held-out problems")
    e.add_argument("--eval-base", action="store_true", help="also evaluate the starting model (DIR/base-eval/)")
    d = p.add_argument_group("training data")
    d.add_argument("--informal", metavar="DATA", help="informal rows (JSONL or a datasets snapshot) of "
                   "{prompt, completion, band} with band simple/intermediate/advanced, mixed in by --mix")
    d.add_argument("--synthetic", metavar="DATA",
                   help="verified synthetic theorems (`bridge synth`'s synthetic.jsonl) added to the lean-formalized "
                   "band of every round's training set; decontaminated and verified again first")
    d.add_argument("--mix", default=None, metavar="BAND=W,...",
                   help="band weights in each round's training set (default lean-formalized=2,simple=1,"
                   "intermediate=1,advanced=1; all verified rows are kept and set the scale)")
    d.add_argument("--decontam", default="minif2f,proofnet", metavar="SETS",
                   help="evaluation sets (NAME or NAME:SPLIT, comma-separated) whose statements never reach "
                   "training (default minif2f,proofnet; `none` for none)")
    d.add_argument("--max-per-statement", type=int, default=4, metavar="M", help="proofs kept per statement (default 4)")
    d.add_argument("--near-duplicate", type=float, default=0.8,
                   help="token-bigram Jaccard from which two proofs count as near-duplicates (default 0.8)")
    d.add_argument("--train-on", choices=("all", "new"), default="all",
                   help="all: every round's verified proofs so far (default); new: this round's only")
    d.add_argument("--canaries", type=int, default=4, help="canary statements per round (default 4)")
    d.add_argument("--no-strict", action="store_true",
                   help="do not re-check training proofs with the kernel checker even when it is there")
    d.add_argument("--init-adapter", metavar="ADAPTER", help="start round 1 from this peft adapter")
    add_train_flags(p)
    add_config_flags(p)
    add_count_fast_gate_flag(p)
    add_push_flags(p, "the final adapter with the run's card, rounds table and training summary",
                   every_round=True)
    p.set_defaults(func=run)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def config_from(args: argparse.Namespace):  # -> IterateConfig
    from bridge.train.data import DEFAULT_MIX, DataConfig, parse_mix
    from bridge.train.iterate import IterateConfig
    from bridge.train.sampling import SamplingConfig
    from provers.backends.base import SamplingParams

    if args.max_per_statement < 1:
        raise InputError("--max-per-statement must be at least 1")
    if args.vllm and args.endpoint:
        raise InputError("--vllm and --endpoint: choose one")
    decontam = tuple(x.strip() for x in args.decontam.split(",") if x.strip() and x.strip() != "none")
    data = DataConfig(max_per_statement=args.max_per_statement, near_duplicate=args.near_duplicate,
                      mix=parse_mix(args.mix or DEFAULT_MIX), decontam=decontam, train_on=args.train_on,
                      seed=args.seed)
    sampling = SamplingConfig(backend="endpoint" if args.endpoint else "vllm" if args.vllm else "transformers",
                              device=args.device, batch_size=args.batch_size, endpoint=args.endpoint,
                              endpoint_lora=args.endpoint_lora, served_model=args.served_model,
                              vllm_memory=args.vllm_memory,
                              max_lora_rank=max(8, 1 << (args.lora_r - 1).bit_length()))  # vLLM: a power of two
    strict = "off" if args.no_strict else "require" if args.strict else "auto"
    run_dir = Path(args.run_dir or f"runs/iterate_{_slug(args.pool)}_{_slug(args.model)}")
    return IterateConfig(
        pool=args.pool, model=args.model, rounds=args.rounds, samples=args.samples, run_dir=run_dir,
        split=args.split, limit=args.limit, template=args.template,
        params=SamplingParams(args.temperature, args.top_p, args.max_tokens, args.seed),
        eval=args.eval, eval_split=args.eval_split, eval_samples=args.eval_samples, eval_limit=args.eval_limit,
        eval_base=args.eval_base, informal=args.informal,
        synthetic=args.synthetic, canaries=args.canaries, strict=strict,
        init_adapter=args.init_adapter, data=data, train=train_config_from_args(args), sampling=sampling)


def run(args: argparse.Namespace) -> int:
    cfg = config_from(args)
    writable_dir(cfg.run_dir)
    preflight(args)
    # samples are checked by the fast gate; --strict (or its availability) decides the re-check of the
    # proofs that enter training, which IterateConfig.strict carries
    bcfg = config_from_args(argparse.Namespace(**{**vars(args), "strict": None}))
    code = iteration(cfg, bcfg, eprint, args).run()
    table = cfg.run_dir / "rounds.md"
    if table.is_file():
        print(table.read_text(encoding="utf-8").rstrip())
    if code == 0 and args.push_to_hub:
        push_run(cfg.run_dir, args)
    return code
