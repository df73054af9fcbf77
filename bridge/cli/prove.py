"""``bridge prove DATASET``: sample whole proofs, verify each in Lean, report pass@k."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.report import add_count_fast_gate_flag
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.data.loader import load_dataset
from bridge.data.problem import Problem
from bridge.errors import InputError
from bridge.eval.report import build_report, write_report
from bridge.runs import provenance
from bridge.runs.store import RunStore, writable_dir
from bridge.verify.verdict import Verdict

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from provers.backends.base import Backend

DEFAULT_MODEL = "deepseek-ai/DeepSeek-Prover-V1.5-RL"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prove",
        help="sample N proofs per problem from a prover model, verify them, report Lean pass@k",
        description="Sample --samples whole proofs per problem, verify every one in Lean (generation and "
        "verification overlap), store everything in --run-dir (rerun the same command to resume), and "
        "write RUN_DIR/report.json, report.md and passk.png. DATASET is a named dataset (bridge data "
        "list) or a JSONL file of problems. Ctrl-C or SIGTERM stops cleanly (exit 130): nothing more is asked "
        "of the model, every sample and decided verdict is kept; rerun the same command to go on. A larger "
        "--samples on an existing run adds the missing samples.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K problems of the split, in file order")
    p.add_argument("--samples", type=int, default=64, metavar="N",
                   help="samples per problem (default 64); more than an existing run has adds the missing ones")
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
                   help="stop sampling a problem once one proof is verified; reports the fraction solved within "
                   "the budget and the mean samples to the first proof (pass@k for k > 1 is not computable)")
    p.add_argument("--batch-size", type=int, help="samples per forward batch (transformers backend)")
    add_config_flags(p)
    add_count_fast_gate_flag(p)
    p.set_defaults(func=run)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def _problems(args: argparse.Namespace, cfg: object) -> list[Problem]:
    """The problems to prove, or an InputError that says why there are none."""
    every = load_dataset(args.dataset, cfg, split=None)  # type: ignore[arg-type]
    if not every:
        raise InputError(f"{args.dataset}: no problems (the file has no rows)", "give a JSONL file of problems "
                         '({"name", "split", "header", "formal_statement"} per line) or a dataset name')
    problems = [p for p in every if p.split == args.split]
    if not problems:
        splits = sorted({p.split for p in every})
        raise InputError(f"{args.dataset}: no problems in split {args.split!r}",
                         f"choose one of the splits it has with --split: {', '.join(splits)}")
    if not problems[0].formal_statement:
        raise InputError(f"{args.dataset} has no formal statements", "it is input for autoformalization, not proving")
    return problems[: args.limit] if args.limit is not None else problems


def run(args: argparse.Namespace, *, cfg: BridgeConfig | None = None, backend: Backend | None = None,
        demo: bool = False) -> int:
    """``bridge prove``; ``bridge demo`` passes its stand-in configuration and scripted prover, and
    ``demo`` (its verdicts, the stand-in's, count as solved in this run directory only)."""
    from bridge.scale import make_verifier
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.pipeline import STOP_ON_FIRST_CHUNK, Pipeline, ProveSettings, problem_of
    from provers.templates import family_for

    cfg = cfg or config_from_args(args)
    if args.samples < 1:
        raise InputError("--samples must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1", "drop --limit to prove every problem of the split")
    if args.rounds < 0:
        raise InputError("--rounds must be 0 or more")
    problems = _problems(args, cfg)
    family = family_for(args.model, args.template)
    params = SamplingParams(args.temperature, args.top_p, args.max_tokens, args.seed)
    run_dir = Path(args.run_dir or f"runs/{_slug(args.dataset)}_{args.split}_{_slug(args.model)}")
    writable_dir(run_dir)  # before Lean starts: a bad --run-dir is one line, at once
    with make_verifier(cfg) as verifier, RunStore(run_dir) as store:
        provenance.record(run_dir, verifier)
        # a run only grows: --samples above the stored budget adds the missing samples; below it, nothing
        budget = max(args.samples, int(store.meta().get("samples") or 0))
        meta = {"dataset": args.dataset, "split": args.split, "model": args.model, "template": family.name,
                "sampling": params.to_json(), "samples": budget, "lean_version": verifier.launch.lean_version,
                "endpoint": args.endpoint, "rounds": args.rounds, "limit": args.limit,
                "stop_on_first": args.stop_on_first, "first_block": STOP_ON_FIRST_CHUNK,
                "count_fast_gate": cfg.count_fast_gate, "checker": "stand-in" if verifier.stand_in else "lean",
                "demo": demo and verifier.stand_in}
        store.check_meta(meta, fixed=("dataset", "split", "model", "template", "sampling", "checker"))
        # loaded before anything is written: a model that cannot be had leaves the run directory as it was
        if backend is None:
            backend = make_backend(args.model, endpoint=args.endpoint, batch_size=args.batch_size,
                                   use_vllm=args.vllm)
        store.set_meta(meta)
        store.add_problems(problems)
        eprint(f"run directory: {run_dir} ({len(problems)} problems x {args.samples} samples, "
               f"template {family.name}, Lean {verifier.launch.lean_version})")
        ids = {p.id for p in problems}
        total = len(problems) * args.samples
        generated_before = sum(sum(1 for i in store.sample_indices(p.id, 0) if i < args.samples) for p in problems)
        verified_before = sum(min(n, args.samples) for pid, (n, _) in store.counts().items() if pid in ids)
        bars = dict(file=sys.stderr, dynamic_ncols=True, unit="sample", total=total)
        gen_bar = tqdm(desc="generated", initial=generated_before, position=0, **bars)
        ver_bar = tqdm(desc="verified", initial=verified_before, position=1, **bars)
        corrections = [0]

        def on_generated(round_: int, n: int) -> None:
            if round_ == 0:
                gen_bar.update(n)
            else:
                corrections[0] += n
                gen_bar.set_postfix(corrections=corrections[0])

        def on_verdict(v: Verdict) -> None:
            if v.id.rsplit("/", 2)[1] == "0" and problem_of(v.id) in ids:
                ver_bar.update(1)
            ver_bar.set_postfix(solved=len(pipe.solved), refresh=False)

        # all of a problem's samples in one call: the backend shares the prompt's KV cache across them
        settings = ProveSettings(samples=args.samples, rounds=args.rounds, stop_on_first=args.stop_on_first,
                                 params=params, chunk=args.samples, count_fast_gate=cfg.count_fast_gate,
                                 count_stand_in=bool(meta["demo"]))
        pipe = Pipeline(backend, family, verifier, store, settings, on_verdict=on_verdict, on_generated=on_generated)
        with stop_on_signals(pipe.stop, "every sample and verdict"):
            try:
                pipe.run(problems)
            finally:
                gen_bar.close()
                ver_bar.close()
        if verifier.unchecked:
            eprint(f"bridge: warning: {verifier.unchecked} sample(s) were proved by the fast gate only "
                   "(--allow-fast-gate: a REPL that is not Lean); they are "
                   + ("counted as solved (--count-fast-gate)" if cfg.count_fast_gate else
                      "reported but not counted as solved (--count-fast-gate counts them)"))
        if pipe.stopped:
            eprint(f"bridge: stopped: {store.sample_count()} sample(s) and {store.verdict_count()} decided "
                   f"verdict(s) are kept in "
                   f"{run_dir}; run the same command again to go on (nothing stored is generated or checked "
                   f"again), or `bridge report {run_dir}` for what is there")
            return INTERRUPTED
        report = build_report(store)
    paths = write_report(run_dir, report)
    print(summary_line(report))
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0


def summary_line(report: dict) -> str:
    if report.get("mode") == "stop-on-first":
        sof = report["stop_on_first"]
        mean = sof["mean_samples_to_first_proof"]
        p1 = report["pass_at_k"].get("1")
        return (f"{report['solved']}/{report['problems_total']} problems solved within {sof['budget']} samples "
                f"(stop-on-first); mean samples to first proof "
                f"{'-' if mean is None else f'{mean:.2f}'}; pass@1 (first {sof['first_block']} samples) "
                f"{'-' if p1 is None else f'{100 * p1:.1f}%'}; pass@k for k > 1 is not computable")
    ks = ", ".join(f"pass@{k} {100 * v:.1f}%" for k, v in report["pass_at_k"].items() if v is not None)
    stand_in = "STAND-IN verdicts, not Lean's: " if report.get("checker") == "stand-in" else ""
    return f"{stand_in}{report['solved']}/{report['problems_total']} problems solved; {ks}"
