"""``bridge solve DATA``: sample N informal solutions per problem (CoT or TIR), grade them, report
pass@k, maj@k and consensus, write RFT rows."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from tqdm import tqdm

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError
from bridge.informal.families import FAMILIES, MODES
from bridge.informal.grading import GRADERS
from provers.solve import FIXED  # what a resumed run must have been made with

DEFAULT_MODEL = "AI-MO/NuminaMath-7B-TIR"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "solve",
        help="sample N informal solutions per problem (CoT or tool-integrated), grade the answers, report "
        "pass@k, maj@k and consensus",
        description="Sample --samples solutions per problem with chain-of-thought (--mode cot) or tool-integrated "
        "reasoning in NuminaMath's format (--mode tir: each ```python block runs in the bubblewrap sandbox and "
        "its output is fed back as an ```output block, up to --tir-rounds times). Answers are extracted (the "
        "last \\boxed{}, then the Qwen2.5-Math harness's fallbacks) and graded with math-verify in worker "
        "processes (--grader strict: exact normalised match; substring: a control). Everything goes into "
        "--run-dir (rerun the same command to resume; a larger --samples adds samples); writes "
        "RUN_DIR/report.json, report.md, passk.png, consensus.png and rft.jsonl (correct, deduplicated "
        "solutions as prompt/completion rows for `bridge train sft` and `bridge iterate --informal`). DATA is "
        "a dataset name (math500, math, gsm8k, aime, amc, numinamath_cot) or a JSONL file of {\"id\", "
        "\"problem\", \"answer\", \"solution\"?, \"level\"|\"band\"?, \"source\"?} rows. Ctrl-C or SIGTERM "
        "stops cleanly (exit 130).")
    p.add_argument("dataset", metavar="DATA")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name or path (default {DEFAULT_MODEL})")
    p.add_argument("--samples", type=int, default=8, metavar="N", help="solutions per problem (default 8)")
    p.add_argument("--mode", choices=MODES, default="cot", help="cot (default) or tir")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default: runs/solve_DATA_MODEL_MODE)")
    p.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server's base URL, e.g. "
                   "http://host:8000/v1 (its /completions; no torch needed)")
    p.add_argument("--template", choices=list(FAMILIES),
                   help="prompt family (default: numina for NuminaMath models, else qwen25-math)")
    p.add_argument("--max-tokens", type=int, default=2048, help="tokens per generation (per TIR round) (default 2048)")
    p.add_argument("--temperature", type=float, default=0.8, help="default 0.8 (NuminaMath's SC-TIR)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", help="only this split (default: every split)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K problems, in file order")
    p.add_argument("--grader", choices=GRADERS, default="math-verify",
                   help="what counts as correct: math-verify (default), strict (exact normalised match) or "
                   "substring (a control); the report shows all three")
    p.add_argument("--grade-workers", type=int, default=2, help="grading processes (default 2)")
    g = p.add_argument_group("tool-integrated reasoning (--mode tir)")
    g.add_argument("--tir-rounds", type=int, default=4, metavar="D", help="code runs per solution at most (default 4)")
    g.add_argument("--tir-timeout", type=float, default=10.0, help="wall-clock seconds per code run (default 10)")
    g.add_argument("--tir-cpu", type=int, default=5, help="CPU seconds per code run (default 5)")
    g.add_argument("--tir-memory-mb", type=int, default=2048, help="address space per code run (default 2048 MB)")
    g.add_argument("--tir-output-chars", type=int, default=200,
                   help="characters of output fed back (default 200, as NuminaMath's pipeline)")
    g.add_argument("--tir-workers", type=int, default=2, help="code runs at once (default 2)")
    g.add_argument("--no-sandbox", action="store_true", help="run the python without bubblewrap (rlimits only; warns)")
    p.add_argument("--lean-run", metavar="DIR", help="a `bridge prove` run directory of the same problems: "
                   "the report's simple_to_lean puts informal and formal results side by side")
    p.add_argument("--rft-per-problem", type=int, default=4, metavar="M",
                   help="correct solutions per problem kept in rft.jsonl (default 4)")
    p.add_argument("--vllm", action="store_true", help="generate with vLLM in this process")
    p.add_argument("--batch-size", type=int, help="samples per forward batch (transformers backend)")
    p.add_argument("--check", action="store_true", help="only validate DATA (FILE:LINE: reason per bad row; exit 1 "
                   "if any)")
    add_config_flags(p, lean=False)
    p.set_defaults(func=run)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def _check_args(args: argparse.Namespace) -> None:
    for name in ("samples", "grade_workers", "tir_cpu", "tir_memory_mb", "tir_workers", "rft_per_problem",
                 "max_tokens", "tir_output_chars"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if args.tir_rounds < 0 or args.tir_timeout <= 0:
        raise InputError("--tir-rounds must be 0 or more and --tir-timeout positive")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1", "drop --limit to solve every problem")


def run(args: argparse.Namespace) -> int:
    from bridge.informal.datasets import load_informal

    cfg = config_from_args(args)
    _check_args(args)
    if args.check:
        try:
            problems = load_informal(args.dataset, cfg, split=args.split)
        except InputError as e:
            print(e.message)
            return 1
        print(f"{len(problems)} problem(s), all well formed")
        return 0 if problems else 1
    problems = load_informal(args.dataset, cfg, split=args.split)
    if args.limit is not None:
        problems = problems[: args.limit]
    if not problems:
        raise InputError(f"{args.dataset}: no problems" + (f" in split {args.split!r}" if args.split else "")
                         + "; give a JSONL file of problems with informal statements, or a dataset name "
                         "(bridge data list)")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise InputError(f"{args.dataset}: the same id in several splits", "give --split to solve one split")
    if args.lean_run and not (Path(args.lean_run) / "run.sqlite").is_file():
        raise InputError(f"--lean-run {args.lean_run}: not a run directory (no run.sqlite)",
                         "give the --run-dir of a `bridge prove` run")
    return _solve(args, problems)


def _solve(args: argparse.Namespace, problems: list) -> int:
    from bridge.informal.families import family_for
    from bridge.informal.report import finish
    from bridge.informal.store import KIND, SolveStore
    from bridge.informal.tir import CodeLimits, CodeRunner
    from bridge.runs.store import writable_dir
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.solve import Solver, SolveSettings, solve_into

    family = family_for(args.model, args.template)
    params = SamplingParams(args.temperature, args.top_p, args.max_tokens, args.seed)
    run_dir = Path(args.run_dir or f"runs/solve_{_slug(args.dataset)}_{_slug(args.model)}_{args.mode}")
    writable_dir(run_dir)
    with SolveStore(run_dir) as store:
        old = store.meta()
        if old and old.get("kind") != KIND:
            raise InputError(f"{run_dir} holds a `bridge {old.get('kind') or 'prove'}` run", "give another --run-dir")
        budget = max(args.samples, int(old.get("samples") or 0))
        meta = {"kind": KIND, "dataset": args.dataset, "split": args.split, "limit": args.limit, "model": args.model,
                "template": family.name, "mode": args.mode, "sampling": params.to_json(), "samples": budget,
                "tir_rounds": args.tir_rounds if args.mode == "tir" else None, "grader": args.grader,
                "endpoint": args.endpoint, "rft_per_problem": args.rft_per_problem, "lean_run": str(Path(args.lean_run).resolve()) if args.lean_run
                else old.get("lean_run")}
        store.check_meta(meta, fixed=FIXED)
        # loaded before anything is written: a model that cannot be had leaves the run directory as it was
        backend = make_backend(args.model, endpoint=args.endpoint, batch_size=args.batch_size, use_vllm=args.vllm)
        runner = None
        if args.mode == "tir":
            runner = CodeRunner(CodeLimits(wall_s=args.tir_timeout, cpu_s=args.tir_cpu, memory_mb=args.tir_memory_mb,
                                           output_chars=args.tir_output_chars),
                                workers=args.tir_workers, sandbox=not args.no_sandbox)
        store.set_meta(meta)
        eprint(f"run directory: {run_dir} ({len(problems)} problems x {args.samples} samples, {args.mode}, "
               f"template {family.name}, grader {args.grader})")
        total = len(problems) * args.samples
        have = sum(len([i for i in store.solution_indices(p.id) if i < args.samples]) for p in problems)
        bars = dict(file=sys.stderr, dynamic_ncols=True, total=total)
        gen_bar = tqdm(desc="generated", unit="solution", initial=have, position=0, **bars)
        graded_bar = tqdm(desc="graded", unit="problem", initial=0, position=1, file=sys.stderr,
                          dynamic_ncols=True, total=len(problems))
        solvers: list[Solver] = []

        def stop() -> None:
            for s in solvers:
                s.stop()

        with stop_on_signals(stop, "every solution"):
            try:
                stopped = solve_into(store, problems, backend, family,
                                     SolveSettings(samples=args.samples, mode=args.mode, tir_rounds=args.tir_rounds,
                                                   params=params),
                                     args.grade_workers, runner, on_solution=lambda s: gen_bar.update(1),
                                     on_graded=lambda pid, g: graded_bar.update(1), started=solvers.append)
            finally:
                gen_bar.close()
                graded_bar.close()
        if stopped:
            eprint(f"bridge: stopped: {store.solution_count()} solution(s) are kept in {run_dir}; run the same "
                   "command again to go on (nothing stored is generated again)")
            return INTERRUPTED
        report, paths = finish(store)
    print(summary_line(report))
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0


def summary_line(report: dict) -> str:
    n = str(report["samples"])

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    ks = ", ".join(f"pass@{k} {pct(v)}" for k, v in report["pass_at_k"].items())
    return (f"{report['solved']}/{report['problems_total']} problems solved; {ks}; maj@{n} "
            f"{pct(report['maj_at_k'].get(n))}; consensus rate {pct(report['consensus_rate'])}")

