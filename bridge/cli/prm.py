"""``bridge prm score|labels|train``: step scores from a process reward model, step labels from Lean
verdicts, and fine-tuning a PRM."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prm", help="process reward models: score solutions' steps, label Lean proofs' steps, train",
                       description="`bridge prm score RUN_DIR --model PRM`, `bridge prm labels RUN_DIR`, "
                       "`bridge prm train DATA --model M --out DIR`.")
    psub = p.add_subparsers(dest="prm_command", metavar="ACTION")

    s = psub.add_parser(
        "score", help="score every step of a solve run's solutions with a token-classification PRM",
        description="Score the steps (blank-line separated paragraphs; a fenced block is one step) of every "
        "solution in a `bridge solve` run directory: prompt and steps laid out as trl's PRMTrainer lays them out, "
        "each step scored at its last token (the step separator), as the softmax probability of class 1. Stores "
        "the step scores and their min / last / product, then rewrites the run's report: selected_pass_at_k "
        "gains prm:NAME:min|last|product (best-of-k by that score). Solutions already scored by NAME are kept.")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--model", required=True, help="a token-classification PRM (name or path)")
    s.add_argument("--name", help="the selector's name in the report (default: the model's last path part)")
    s.add_argument("--step-separator", default="\n", help="text after each step, scored at its last token "
                   "(default \"\\n\", trl's)")
    s.add_argument("--max-length", type=int, default=4096, help="tokens per solution; later steps get no score")
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    s.set_defaults(func=run_score)

    lab = psub.add_parser(
        "labels", help="step labels for a prove run's Lean proofs, FoVer-style (each `have` step checked by Lean)",
        description="For every verified sample of a `bridge prove` run directory: the proof is cut into steps "
        "at its top-level `have`s; step k is sound iff Lean accepts the proof up to it with the remaining goals "
        "closed by `sorry`, each such prefix checked by the verifier (sandbox, screen, pool) like any candidate; "
        "the final step is sound iff the whole proof was verified. Writes trl stepwise rows ({prompt, "
        "completions, labels, problem_id, sample_id, verdict, source}) for `bridge prm train`.")
    lab.add_argument("run_dir", metavar="RUN_DIR")
    lab.add_argument("-o", "--out", metavar="FILE", help="output JSONL (default: RUN_DIR/prm_labels.jsonl)")
    add_config_flags(lab)
    lab.set_defaults(func=run_labels)

    t = psub.add_parser(
        "train", help="fine-tune a token-classification PRM on stepwise rows",
        description="Fine-tune a token-classification PRM (2 labels; a causal LM gets a new head) with "
        "transformers' Trainer on trl's stepwise rows (the output of `bridge prm labels`, or any {prompt, "
        "completions, labels} JSONL), laid out as trl's PRMTrainer lays them out. Writes DIR (the model and "
        "tokenizer) and DIR/prm_summary.json.")
    t.add_argument("data", metavar="DATA")
    t.add_argument("--model", required=True, help="base model (name or path)")
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument("--epochs", type=float, default=1.0)
    t.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps")
    t.add_argument("--lr", type=float, default=2e-5)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--max-length", type=int, default=2048)
    t.add_argument("--step-separator", default="\n")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--logging-steps", type=int, default=10)
    t.set_defaults(func=run_train)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_score(args: argparse.Namespace) -> int:
    from bridge.informal.extract import split_steps
    from bridge.informal.prm import PRMScorer, aggregates
    from bridge.informal.report import finish
    from bridge.informal.store import SolveStore

    if args.max_length < 2 or args.batch_size < 1:
        raise InputError("--max-length must be at least 2 and --batch-size at least 1")
    name = args.name or Path(args.model.rstrip("/")).name
    with SolveStore.open_solve(Path(args.run_dir)) as store:
        problems = {p.id: p for p in store.informal_problems()}
        done = set(store.step_scores().get(name, {}))
        todo = [(s, split_steps(s.completion)) for s in store.solutions() if s.id not in done]
        todo = [(s, steps) for s, steps in todo if steps]
        scorer = PRMScorer(args.model, separator=args.step_separator, max_length=args.max_length,
                           device=args.device, batch_size=args.batch_size)
        for start in range(0, len(todo), args.batch_size):
            part = todo[start:start + args.batch_size]
            scores = scorer.score([(problems[s.problem_id].problem, steps) for s, steps in part])
            for (s, steps), sc in zip(part, scores, strict=True):
                store.set_step_scores(s.id, name, {**aggregates(sc), "steps": len(steps)})
        report, paths = finish(store)
    sel = {k: v for k, v in report["selected_pass_at_k"].items() if k.startswith(f"prm:{name}:")}
    print(json.dumps({"scored": len(todo), "already_scored": len(done), "selected_pass_at_k": sel}))
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0


def run_labels(args: argparse.Namespace) -> int:
    from bridge.informal.fover import label
    from bridge.runs.store import RunStore
    from bridge.scale import make_verifier

    run_dir = Path(args.run_dir)
    cfg = config_from_args(args)
    with RunStore.open_existing(run_dir) as store:
        meta = store.meta()
        if meta.get("kind") == "solve":
            raise InputError(f"{run_dir} is a `bridge solve` run", "give the --run-dir of a `bridge prove` run")
        count_fast = bool(meta.get("count_fast_gate", False)) or bool(cfg.count_fast_gate)
        with make_verifier(cfg) as verifier, stop_on_signals(verifier.stop, "every label") as stopped:
            rows, stats = label(store, verifier, count_fast, source=f"fover:{run_dir.name}")
        if stopped():
            eprint("bridge: stopped: no labels written; run the same command again (verdicts are cached)")
            return INTERRUPTED
    out = Path(args.out) if args.out else run_dir / "prm_labels.jsonl"
    tmp = out.with_name(out.name + ".part")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    print(json.dumps(stats))
    eprint(f"wrote {out} ({len(rows)} row(s))")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from bridge.informal.prm import PRMTrainConfig, read_step_rows, train_prm

    for name in ("epochs", "lr", "batch_size", "max_length", "logging_steps"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive")
    rows = read_step_rows(Path(args.data))
    cfg = PRMTrainConfig(epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.lr,
                         batch_size=args.batch_size, max_length=args.max_length, separator=args.step_separator,
                         seed=args.seed, logging_steps=args.logging_steps)
    summary = train_prm(rows, args.model, Path(args.out), cfg)
    print(json.dumps({k: summary[k] for k in ("rows", "steps_labelled", "train_loss", "optimizer_steps")}))
    eprint(f"wrote {args.out} and {Path(args.out) / 'prm_summary.json'}")
    return 0
