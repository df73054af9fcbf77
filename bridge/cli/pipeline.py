"""``bridge pipeline INPUT|PLAN.toml``: informal problems -> solve -> formalize -> prove -> synth -> training
rows with bands (-> iterate), in one run directory; configured by flags or one TOML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.signals import INTERRUPTED, stop_on_signals

# flag -> (stage, field) of the plan; a flag given overrides the plan file
FLAGS = {
    "endpoint": ("", "endpoint"), "run_dir": ("", "run_dir"), "split": ("", "split"), "limit": ("", "limit"),
    "seed": ("", "seed"),
    "solver_model": ("solve", "model"), "solve_samples": ("solve", "samples"),
    "formalizer_model": ("formalize", "model"), "candidates": ("formalize", "candidates"),
    "decontam": ("formalize", "decontam"), "votes": ("formalize", "votes"), "vote": ("formalize", "vote"),
    "prover_model": ("prove", "model"), "proofs": ("prove", "samples"),
    "synth_methods": ("synth", "methods"), "iterate_rounds": ("iterate", "rounds"),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pipeline", help="informal problems -> solve -> formalize -> prove -> synth -> training rows (-> iterate)",
        description="One run directory from informal problems to verified training data. INPUT is a JSONL of "
        '{"id", "problem", "answer", "solution"?, "level"?} rows (NuminaMath\'s shape) or a TOML plan file '
        "(input, run_dir, endpoint, and one table per stage: [solve] [formalize] [prove] [synth] [iterate]); flags "
        "override the plan, --set STAGE.KEY=VALUE sets any field. Stages: solve (graded informal answers, maj@k) "
        "in RUN_DIR/solve; formalize (the funnel; statements carry the answer where the problem asks for one) in "
        "RUN_DIR/formalize; prove (N proofs per survivor) in RUN_DIR/prove; synth (have-lift, mutate) in "
        "RUN_DIR/synth; training rows with bands in RUN_DIR/train.jsonl (train_informal.jsonl, train_lean.jsonl); "
        "optionally iterate in RUN_DIR/iterate. Per-stage yields and simple_to_lean in RUN_DIR/report.json and "
        "report.md. Rerun the same command to resume (also after a kill); Ctrl-C stops cleanly (exit 130).")
    p.add_argument("input", metavar="INPUT|PLAN.toml")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/pipeline_INPUT)")
    p.add_argument("--endpoint", metavar="URL", help="every model's OpenAI-compatible server (a stage's own "
                   "`endpoint` in the plan wins)")
    p.add_argument("--split", help="only this split of INPUT")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K problems")
    p.add_argument("--seed", type=int)
    p.add_argument("--solver-model", metavar="MODEL", help="solve: the informal solver")
    p.add_argument("--solve-samples", type=int, metavar="N", help="solve: solutions per problem (maj@N)")
    p.add_argument("--formalizer-model", metavar="MODEL", help="formalize: the formalizer (and default judge)")
    p.add_argument("--candidates", type=int, metavar="N", help="formalize: candidate statements per problem")
    p.add_argument("--decontam", metavar="SETS", help="formalize and synth: evaluation sets (`none` for none)")
    p.add_argument("--votes", type=int, metavar="K", help="formalize: votes per judge")
    p.add_argument("--vote", metavar="RULE", help="formalize: unanimous, majority or N")
    p.add_argument("--prover-model", metavar="MODEL", help="prove: the prover")
    p.add_argument("--proofs", type=int, metavar="N", help="prove: proofs per surviving statement")
    p.add_argument("--synth-methods", metavar="M,M", help="synth: have-lift, mutate (comma-separated)")
    p.add_argument("--no-synth", action="store_true", help="leave the synth stage out")
    p.add_argument("--no-back-translation", action="store_true", help="formalize: no back-translation stage")
    p.add_argument("--iterate", action="store_true", help="end with `bridge iterate` over the formalized statements")
    p.add_argument("--iterate-rounds", type=int, metavar="R")
    p.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE", help="any plan field")
    add_config_flags(p)
    p.set_defaults(func=run)


def plan_from_args(args: argparse.Namespace):  # -> Plan
    from bridge.cli.formalize import slug
    from bridge.pipeline.plan import Plan, check, read_plan, set_option

    if args.input.endswith(".toml"):
        plan = read_plan(Path(args.input))
    else:
        plan = Plan(input=args.input)
    for flag, (section, name) in FLAGS.items():
        v = getattr(args, flag, None)
        if v is None:
            continue
        target = getattr(plan, section) if section else plan
        setattr(target, name, [m.strip() for m in v.split(",") if m.strip()] if name == "methods" else v)
    if args.no_synth:
        plan.synth.enabled = False
    if args.no_back_translation:
        plan.formalize.back_translation = False
    if args.iterate:
        plan.iterate.enabled = True
    for s in args.set:
        set_option(plan, s)
    if not plan.run_dir:
        plan.run_dir = f"runs/pipeline_{slug(plan.input or 'input')}"
    check(plan)
    return plan


def run(args: argparse.Namespace, strict_checker: object | None = None) -> int:
    from bridge.pipeline.run import PipelineRun, Stopped

    plan = plan_from_args(args)
    cfg = config_from_args(args)
    pipe = PipelineRun(plan, cfg, log=eprint, strict_checker=strict_checker)
    try:
        with stop_on_signals(pipe.stop, "every stage's results"):
            report = pipe.run()
    except Stopped:
        eprint(f"bridge: stopped: every stage's results so far are kept in {plan.run_dir}; run the same command "
               "again to go on")
        return INTERRUPTED
    for s in report["stages"]:
        print(f"{s['stage']}: {s['in']} -> {s['out']} ({s['unit']})")
    s2l = report["simple_to_lean"]
    print(f"simple_to_lean: {s2l['reached_lean']}/{s2l['informal_problems']} informal problem(s) reach a verified "
          "Lean proof")
    eprint(f"wrote {Path(plan.run_dir) / 'report.json'}, {Path(plan.run_dir) / 'report.md'}")
    return 0
