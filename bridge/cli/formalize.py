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
from bridge.data.decontam import NGRAM
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
    f.add_argument("--ngram", type=int, default=NGRAM, metavar="N",
                   help=f"n-gram length of decontamination's near-duplicate score (default {NGRAM}; "
                   "docs/decontamination.md)")
    v = p.add_argument_group("proving the survivors (--prove N; the prover's flags are `bridge prove`'s)")
    v.add_argument("--prove", type=int, default=0, metavar="N",
                   help="N whole proofs per survivor from --prover-model, checked by the gate (a `bridge prove` run "
                   "in RUN_DIR/prove); a `proved` stage in the report; proved (statement, proof) rows in "
                   "RUN_DIR/proved.jsonl for `bridge train sft` and `bridge iterate --synthetic` (default 0: none)")
    add_prover_flags(v)
    p.add_argument("-o", "--output", metavar="FILE", help="the survivors' JSONL (default RUN_DIR/formalized.jsonl)")
    add_config_flags(p)
    p.set_defaults(func=run)


def add_prover_flags(g: argparse._ArgumentGroup) -> None:
    """`bridge prove`'s model, endpoint, template and sampling flags, prefixed ``--prover-``."""
    from bridge.cli.prove import DEFAULT_MODEL as PROVER

    g.add_argument("--prover-model", default=PROVER, metavar="MODEL", help=f"prover model name or path (default {PROVER})")
    g.add_argument("--prover-endpoint", metavar="URL", help="the prover's OpenAI-compatible server (default --endpoint)")
    g.add_argument("--prover-vllm", action="store_true", help="the prover with vLLM in this process")
    g.add_argument("--prover-template", choices=["deepseek-v1.5", "goedel-v2", "kimina"],
                   help="the prover's prompt template family (default: chosen from its model name)")
    g.add_argument("--prover-temperature", type=float, default=1.0)
    g.add_argument("--prover-top-p", type=float, default=0.95)
    g.add_argument("--prover-max-tokens", type=int, default=2048)


def prove_stage(args: argparse.Namespace, n: int, count_fast_gate: bool, endpoint: str | None) -> object:
    """The ``ProveStage`` of ``--prove N`` from the ``--prover-*`` flags."""
    from provers.backends.base import SamplingParams
    from provers.formalize.funnel import make_prove_stage

    params = SamplingParams(args.prover_temperature, args.prover_top_p, args.prover_max_tokens, args.seed)
    return make_prove_stage(args.prover_model, args.prover_endpoint or endpoint, args.prover_template, params, n,
                            count_fast_gate, args.prover_vllm)


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
    from bridge.runs import provenance
    from bridge.runs.store import RunStore, writable_dir
    from bridge.scale import make_verifier
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.formalize.funnel import (
        FIXED,
        JUDGE_SAMPLING,
        PROVED_FILE,
        FormalizeSettings,
        Funnel,
        formalize_into,
        load_informal,
        write_outputs,
    )
    from provers.formalize.prompts import formalizer_for
    from provers.formalize.stages import parse_rule

    cfg = config_from_args(args)
    if args.candidates < 1 or args.votes < 1:
        raise InputError("--candidates and --votes must be at least 1")
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    if args.prove < 0:
        raise InputError("--prove must be 0 or more")
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
        provenance.record(run_dir, verifier)
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
                "lean_version": verifier.launch.lean_version, "prove": args.prove}
        store.check_meta(meta, fixed=FIXED)
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
        with stop_on_signals(funnel.stop, "every candidate, stage decision and proof"):
            prover = prove_stage(args, args.prove, cfg.count_fast_gate, args.endpoint) if args.prove else None
            outcome = formalize_into(funnel, problems, meta, prover)  # type: ignore[arg-type]
        if outcome.stopped:
            eprint(f"bridge: stopped: every candidate and stage decision so far is kept in {run_dir}; run the "
                   "same command again to go on")
            return INTERRUPTED
    report = outcome.report
    written = write_outputs(run_dir, outcome, Path(args.output) if args.output else None, prove=args.prove > 0)
    out = written[0]
    rate = report["compile_rate"]
    print(f"{report['statements']} informal statement(s), {report['candidates']} candidate(s): compile rate "
          f"{'-' if rate is None else f'{100 * rate:.1f}%'}, {report['survivors']} survivor(s) "
          f"({report['survivors_per_statement'] or 0:.2f} per statement) -> {out}"
          + (f"; {report['proved']} proved -> {run_dir / PROVED_FILE}" if args.prove else ""))
    eprint("wrote " + ", ".join(str(p) for p in written))
    sys.stdout.flush()
    return 0
