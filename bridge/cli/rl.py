"""``bridge rl grpo DATASET --model M --samples 8 --pass-window 0,0.75 --steps S --run-dir DIR``: GRPO with
the Lean verdict as the reward (trl's GRPOTrainer + a peft LoRA adapter)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError

DEFAULT_MODEL = "deepseek-ai/DeepSeek-Prover-V1.5-RL"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rl", help="reinforcement learning with the Lean verdict as the reward (GRPO)",
                       description="Reinforcement learning with the Lean verdict as the reward. "
                       "`bridge rl grpo DATASET --model M --steps S --run-dir DIR`.")
    rsub = p.add_subparsers(dest="rl_command", metavar="JOB")
    g = rsub.add_parser(
        "grpo", help="GRPO (trl GRPOTrainer + LoRA) on a dataset's formal statements",
        description="GRPO with trl's GRPOTrainer and a peft LoRA adapter; the reward is the Lean verdict through "
        "the soundness gate (proved 1, failed/incomplete/rejected 0, timeout/crashed: no reward). Each epoch "
        "measures every problem's pass rate with the current policy (--samples completions each), keeps the "
        "problems inside --pass-window and trains one pass over them. DATASET is a named dataset or a JSONL file "
        "of problems. Everything goes into --run-dir (rl.json, epoch-E/, checkpoints/, steps.jsonl, "
        "rewards.jsonl, adapter/, rl_summary.json): kill it at any point and rerun the same command to resume "
        "from the last checkpoint; a larger --steps goes on. Ctrl-C or SIGTERM checkpoints the current step "
        "and exits 130. An epoch with no problem inside --pass-window saves nothing (no adapter, no summary) "
        "and exits 6.")
    g.add_argument("dataset", metavar="DATASET")
    g.add_argument("--model", default=DEFAULT_MODEL, help=f"base model name or path (default {DEFAULT_MODEL})")
    g.add_argument("--samples", type=int, default=8, metavar="G",
                   help="completions per prompt (the group size; also per problem when measuring; default 8)")
    g.add_argument("--pass-window", default="0,0.75", metavar="LO,HI",
                   help="train on problems whose measured pass rate r has LO < r <= HI (default 0,0.75, as "
                   "Goedel-Prover-V2); `none`: every problem, nothing measured")
    g.add_argument("--steps", type=int, default=100, metavar="S", help="optimizer steps in all (default 100)")
    g.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/rl_DATASET_MODEL)")
    g.add_argument("--split", help="only this split of DATASET (default: every split)")
    g.add_argument("--limit", type=int, metavar="K", help="only the first K problems")
    g.add_argument("--template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="prompt template and proof extraction (default: chosen from the model name)")
    g.add_argument("--prompts-per-step", type=int, default=2, metavar="P",
                   help="prompts (groups of G completions) per optimizer step (default 2)")
    g.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step (must divide P x G; default 1)")
    g.add_argument("--max-tokens", type=int, default=2048, help="tokens per completion (default 2048)")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--lr", type=float, default=1e-5, help="learning rate (default 1e-5, constant)")
    g.add_argument("--beta", type=float, default=0.0, help="KL coefficient (default 0: no reference model)")
    g.add_argument("--lora-r", type=int, default=16)
    g.add_argument("--lora-alpha", type=int, default=32)
    g.add_argument("--lora-dropout", type=float, default=0.0)
    g.add_argument("--target-modules", default="all-linear",
                   help="modules that get LoRA: all-linear (default) or names, comma-separated")
    g.add_argument("--init-adapter", metavar="ADAPTER", help="start from this peft adapter (e.g. bridge train sft's)")
    g.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (and at each epoch's end)")
    g.add_argument("--logging-steps", type=int, default=1, help="steps per line of steps.jsonl (default 1)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    g.add_argument("--vllm", choices=("auto", "on", "off"), default="auto",
                   help="generate with vLLM colocated on the training GPU: auto = when vLLM is installed and "
                   "there is a GPU (default); otherwise transformers")
    g.add_argument("--vllm-memory", type=float, default=0.3, help="vLLM's gpu_memory_utilization (default 0.3)")
    s = g.add_argument_group("reward shaping (off by default: the reward is the verdict alone)")
    s.add_argument("--format-weight", type=float, default=0.0,
                   help="added to a well-formed answer (a closed code block; Kimina: <think> then lean4)")
    s.add_argument("--require-format", action="store_true",
                   help="a malformed answer scores 0 even when its proof checks (format-correct x Lean-valid)")
    s.add_argument("--length-penalty", type=float, default=0.0,
                   help="subtracted per 1,000 completion tokens beyond --length-free")
    s.add_argument("--length-free", type=int, default=0, help="tokens a completion may use unpenalised")
    add_config_flags(g)
    g.set_defaults(func=run)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def config_from(args: argparse.Namespace):  # -> GRPORunConfig
    from bridge.rl.grpo import GRPORunConfig
    from bridge.rl.shaping import ShapingConfig
    from bridge.rl.window import parse_window

    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    if args.length_free < 0 or args.length_penalty < 0:
        raise InputError("--length-penalty and --length-free must be 0 or more")
    shaping = ShapingConfig(format_weight=args.format_weight, require_format=args.require_format,
                            length_penalty=args.length_penalty, length_free=args.length_free)
    run_dir = Path(args.run_dir or f"runs/rl_{_slug(args.dataset)}_{_slug(args.model)}")
    return GRPORunConfig(
        dataset=args.dataset, model=args.model, run_dir=run_dir, steps=args.steps, samples=args.samples,
        pass_window=parse_window(args.pass_window), split=args.split, limit=args.limit, template=args.template,
        prompts_per_step=args.prompts_per_step, grad_accum=args.grad_accum, max_completion_length=args.max_tokens,
        temperature=args.temperature, top_p=args.top_p, learning_rate=args.lr, beta=args.beta,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        target_modules=args.target_modules, save_steps=args.save_steps, logging_steps=args.logging_steps,
        seed=args.seed, device=args.device, vllm=args.vllm, vllm_memory=args.vllm_memory,
        init_adapter=args.init_adapter, shaping=shaping)


def run(args: argparse.Namespace) -> int:
    from bridge.data.loader import load_dataset
    from bridge.rl.grpo import GRPORun
    from provers.templates import family_for

    cfg = config_from(args)
    bcfg = config_from_args(args)
    problems = load_dataset(cfg.dataset, bcfg, split=cfg.split)
    problems = [p for p in problems if p.formal_statement.strip()]
    if not problems:
        raise InputError(f"{cfg.dataset}: no problems with a formal statement"
                         + (f" in split {cfg.split!r}" if cfg.split else ""))
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    family = family_for(cfg.model, cfg.template)
    runner = GRPORun(cfg, bcfg, problems, family, log=eprint)
    with stop_on_signals(runner.stop, "every finished step"):
        summary = runner.run()
    if summary.get("stopped"):
        return INTERRUPTED
    if summary.get("empty_window"):
        from bridge.rl.grpo import EMPTY_WINDOW

        kept = (f"; the {summary['steps']} step(s) trained so far are in {summary['checkpoint']}"
                if summary.get("checkpoint") else "; nothing was trained or saved")
        eprint(f"bridge: {summary['reason']}: nothing to train on{kept}. Next: widen --pass-window (in a new "
               "--run-dir), use --pass-window none, or remove that epoch's directory to measure again")
        return EMPTY_WINDOW
    print(json.dumps({k: summary.get(k) for k in ("adapter", "steps", "stopped_early", "wall_time_s")}))
    return 0
