"""``bridge formalize INPUT --model M --candidates N --run-dir DIR``: informal statements -> N candidate
Lean statements each -> a funnel of checks, cheapest first -> a JSONL dataset ``bridge prove`` reads,
and the funnel's per-stage yield in RUN_DIR/report.md and report.json."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError, RunDirError

DEFAULT_MODEL = "Goedel-LM/Goedel-Formalizer-V2-8B"
DEFAULT_DECONTAM = "minif2f,proofnet"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from provers.formalize.prompts import FORMALIZERS
    from provers.formalize.stages import DEFAULT_BUDGET

    p = sub.add_parser(
        "formalize", help="autoformalize informal statements: N Lean statements each, filtered by a funnel",
        description="Ask a formalizer model for --candidates Lean statements per informal statement (INPUT: a "
        'JSONL file of {"id", "informal", "answer"?} rows, or a dataset with informal statements such as the '
        "built-in `conjectures`), then pass each through a funnel, cheapest stage first, each decision recorded "
        "with its reason: extracted, well_formed (one named theorem, no sorry, the static screen), unique, "
        "uncontaminated (against --decontam), elaborates (with sorry, in --header), consistent (the tactic budget "
        "cannot prove False from the hypotheses), nontrivial (nor the statement), negation_unproved (nor its "
        "negation), back_translation (the statement put back into words, then --votes votes per judge model, "
        "--vote unanimous by default). Survivors go to RUN_DIR/formalized.jsonl (problem rows `bridge prove` "
        "reads, with provenance); every candidate and its stage results to RUN_DIR/candidates.jsonl; the "
        "per-stage yield to RUN_DIR/report.md and report.json. Rerun the same command to resume (also after a "
        "kill); Ctrl-C stops cleanly (exit 130).")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"formalizer model name or path (default {DEFAULT_MODEL})")
    p.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server's base URL (no torch needed)")
    p.add_argument("--vllm", action="store_true", help="generate with vLLM in this process")
    p.add_argument("--template", choices=sorted(FORMALIZERS),
                   help="formalizer prompt family (default: from the model name: kimina, goedel, deepseek; "
                   "else goedel-formalizer-v2)")
    p.add_argument("--candidates", type=int, default=8, metavar="N",
                   help="candidate statements per informal statement (default 8); more than a run has adds the rest")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/formalize_INPUT_MODEL)")
    p.add_argument("--split", help="only this split of INPUT")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K informal statements")
    p.add_argument("--header", metavar="TEXT|@FILE",
                   help="the Lean header every candidate is checked in (default: import Mathlib, import Aesop, "
                   "maxHeartbeats 400000, open BigOperators Real Nat Topology Rat)")
    g = p.add_argument_group("sampling (defaults: the formalizer family's published settings)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-p", type=float)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--seed", type=int, default=0)
    j = p.add_argument_group("back-translation and judges")
    j.add_argument("--judge", action="append", metavar="MODEL",
                   help="a judge model (repeat for several; the first also back-translates; default: --model)")
    j.add_argument("--judge-endpoint", metavar="URL", help="where the judges are served (default: --endpoint)")
    j.add_argument("--votes", type=int, default=3, metavar="K", help="votes per judge model (default 3)")
    j.add_argument("--vote", default="unanimous", metavar="RULE",
                   help="unanimous (default), majority, or a number N of yes votes needed")
    j.add_argument("--judge-temperature", type=float, default=0.7)
    j.add_argument("--judge-max-tokens", type=int, default=2048)
    j.add_argument("--no-back-translation", action="store_true", help="leave the back-translation stage out")
    f = p.add_argument_group("filters")
    f.add_argument("--budget", default=",".join(DEFAULT_BUDGET), metavar="TACTICS",
                   help=f"the cheap tactic budget, comma-separated (default {','.join(DEFAULT_BUDGET)})")
    f.add_argument("--decontam", default=DEFAULT_DECONTAM, metavar="SETS",
                   help="evaluation sets (NAME, NAME:SPLIT or a JSONL file, comma-separated; `none` for none) no "
                   f"survivor may match (default {DEFAULT_DECONTAM}); a set that cannot be loaded is an error")
    f.add_argument("--ngram", type=int, default=20, help="shared n-gram length that counts as a match (default 20)")
    p.add_argument("-o", "--output", metavar="FILE", help="the survivors' JSONL (default RUN_DIR/formalized.jsonl)")
    add_config_flags(p)
    p.set_defaults(func=run)


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s.rstrip("/").split("/")[-1])[:60]


def read_header(text: str | None) -> str:
    from provers.formalize.prompts import DEFAULT_HEADER

    if text is None:
        return DEFAULT_HEADER
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"--header {text}: cannot read: {e}") from None
    return text if text.endswith("\n") else text + "\n"


def decontam_sets(text: str, cfg: object) -> dict:
    from bridge.train.data import load_against

    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in ([], ["none"]):
        return {}
    return load_against(names, cfg)  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from bridge.runs.store import RunStore, writable_dir
    from bridge.scale import make_verifier
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.formalize.funnel import (
        JUDGE_SAMPLING,
        FormalizeSettings,
        Funnel,
        candidate_row,
        load_informal,
        survivor_row,
        write_jsonl,
    )
    from provers.formalize.prompts import formalizer_for
    from provers.formalize.report import build_report, write_report
    from provers.formalize.stages import parse_rule

    cfg = config_from_args(args)
    if args.candidates < 1 or args.votes < 1:
        raise InputError("--candidates and --votes must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    try:
        rule = parse_rule(args.vote)
    except ValueError as e:
        raise InputError(str(e)) from None
    budget = tuple(t.strip() for t in args.budget.split(",") if t.strip())
    if not budget:
        raise InputError("--budget names no tactic")
    fam = formalizer_for(args.model, args.template)
    d = fam.sampling
    params = SamplingParams(d.temperature if args.temperature is None else args.temperature,
                            d.top_p if args.top_p is None else args.top_p,
                            d.max_tokens if args.max_tokens is None else args.max_tokens, args.seed)
    judge_params = SamplingParams(args.judge_temperature, JUDGE_SAMPLING.top_p, args.judge_max_tokens, args.seed)
    judges = tuple(dict.fromkeys(args.judge or [args.model]))
    header = read_header(args.header)
    problems = load_informal(args.input, cfg, args.split)
    problems = problems[: args.limit] if args.limit is not None else problems
    against = decontam_sets(args.decontam, cfg)  # before anything is written: it fails closed
    run_dir = Path(args.run_dir or f"runs/formalize_{slug(args.input)}_{slug(args.model)}")
    writable_dir(run_dir)
    if args.output and Path(args.output).is_dir():
        raise RunDirError(f"{args.output}: -o names a directory; it takes the survivors' JSONL file",
                          f"give -o a file path, e.g. {Path(args.output) / 'formalized.jsonl'}")
    with make_verifier(cfg) as verifier, RunStore(run_dir) as store:
        have = int(store.meta().get("candidates_per_statement") or 0)
        settings = FormalizeSettings(candidates=max(args.candidates, have), params=params, header=header, budget=budget,
                                     judges=judges, votes=args.votes, vote_rule=rule, judge_params=judge_params,
                                     back_translation=not args.no_back_translation, ngram=args.ngram)
        meta = {"kind": "formalize", "input": args.input, "split": args.split, "limit": args.limit,
                "model": args.model, "endpoint": args.endpoint, "template": fam.name, "template_source": fam.source,
                "sampling": params.to_json(), "candidates_per_statement": settings.candidates, "header": header,
                "budget": list(budget), "judges": list(judges) if settings.back_translation else [],
                "votes": args.votes, "vote_rule": rule, "judge_sampling": judge_params.to_json(),
                "decontam": list(against), "ngram": args.ngram, "stages": list(settings.stages()),
                "lean_version": verifier.launch.lean_version}
        store.check_meta(meta, fixed=("kind", "input", "model", "template", "sampling", "header", "budget", "judges",
                                      "votes", "vote_rule", "judge_sampling", "decontam", "ngram", "stages"))
        backend = make_backend(args.model, endpoint=args.endpoint, use_vllm=args.vllm)
        judge_backends = {}
        if settings.back_translation:
            jend = args.judge_endpoint or args.endpoint
            for m in judges:
                same = m == args.model and jend == args.endpoint
                judge_backends[m] = backend if same else make_backend(m, endpoint=jend)
        store.set_meta(meta)
        store.add_problems(problems)
        eprint(f"run directory: {run_dir} ({len(problems)} informal statement(s) x {settings.candidates} candidate(s), "
               f"template {fam.name}, Lean {verifier.launch.lean_version})")
        funnel = Funnel(fam, backend, verifier, store, settings, against, judge_backends, log=eprint)
        with stop_on_signals(funnel.stop, "every candidate and stage decision"):
            forms = funnel.run(problems)
        served = getattr(backend, "served_model", None)
        if served:
            store.set_meta({"served_model": served})
        if funnel.stopped:
            eprint(f"bridge: stopped: every candidate and stage decision so far is kept in {run_dir}; run the "
                   "same command again to go on")
            return INTERRUPTED
        meta = {**meta, **store.meta()}
        stages = settings.stages()
        by_id = {p.id: p for p in problems}
        survivors = [survivor_row(f, by_id[f.problem_id], meta, stages) for f in forms if f.status(stages) == "survived"]
        report = build_report(forms, problems, stages, meta)
    out = Path(args.output) if args.output else run_dir / "formalized.jsonl"
    write_jsonl(out, survivors)
    write_jsonl(run_dir / "candidates.jsonl", [candidate_row(f, stages) for f in forms])
    paths = write_report(run_dir, report)
    rate = report["compile_rate"]
    print(f"{report['statements']} informal statement(s), {report['candidates']} candidate(s): compile rate "
          f"{'-' if rate is None else f'{100 * rate:.1f}%'}, {report['survivors']} survivor(s) "
          f"({report['survivors_per_statement'] or 0:.2f} per statement) -> {out}")
    eprint("wrote " + ", ".join(str(p) for p in [out, run_dir / "candidates.jsonl", *paths]))
    sys.stdout.flush()
    return 0
