"""``bridge synth RUN_DIR|DATA --method have-lift|mutate|conjecture --run-dir DIR``: verified synthetic
theorems with proofs from verified proofs, each checked again by the gate (and ``--strict``'s kernel
replay when the checker is there), with provenance, in the lean-formalized band."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.cli.formalize import DEFAULT_DECONTAM, decontam_sets, slug
from bridge.cli.report import add_count_fast_gate_flag
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.data.decontam import NGRAM
from bridge.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="verified synthetic theorems from verified proofs (have-lift, mutate, conjecture)",
        description="SOURCE is a `bridge prove` run directory (its verified proofs) or a JSONL of verified proofs "
        "(`bridge export --proved` rows, or problem rows with a `proof`). --method (comma-separated): have-lift "
        "(each `have h : T := by tac` becomes a theorem over the hypotheses it uses, proved by its block), mutate "
        "(a hypothesis or the conclusion rewritten with a library lemma: an equivalent, a consequence, a premise; "
        "the proof derived from the original), conjecture (the model proposes related statements in STP's prompt "
        "shape; the prover samples --samples proofs of each; those whose pass rate lies in --window are kept). "
        "Every item is deduplicated (also against the seeds), decontaminated, and checked again by the gate, "
        "with the kernel checker (--strict) when it is there. Writes RUN_DIR/synthetic.jsonl (problem rows with "
        "`proof`, band lean-formalized, provenance), report.md and report.json. Rerun the same command to resume.")
    p.add_argument("source", metavar="RUN_DIR|DATA")
    p.add_argument("--method", required=True, metavar="METHODS",
                   help="have-lift, mutate, conjecture (comma-separated for several)")
    p.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/synth_SOURCE_METHODS)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K verified proofs")
    p.add_argument("--no-strict", action="store_true",
                   help="do not re-check with the kernel checker even when it is there (--strict requires it)")
    p.add_argument("--decontam", default=DEFAULT_DECONTAM, metavar="SETS",
                   help=f"evaluation sets no item may match (default {DEFAULT_DECONTAM}; `none` for none)")
    p.add_argument("--max-per-seed", type=int, default=None, metavar="N",
                   help="keep at most N items per seed and method (default 3; 0: no cap); an item that is a "
                   "near-duplicate of one kept before it (same conclusion, docs/decontamination.md) is dropped")
    p.add_argument("--ngram", type=int, default=NGRAM, metavar="N",
                   help=f"n-gram length of decontamination's near-duplicate score (default {NGRAM}; "
                   "docs/decontamination.md)")
    p.add_argument("-o", "--output", metavar="FILE", help="the items' JSONL (default RUN_DIR/synthetic.jsonl)")
    c = p.add_argument_group("conjecture")
    c.add_argument("--model", help="the conjecturer (STP's prompt; e.g. an STP checkpoint)")
    c.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server for the conjecturer")
    c.add_argument("--conjectures", type=int, default=4, metavar="C", help="conjectures asked per proof (default 4)")
    c.add_argument("--samples", type=int, default=32, metavar="K",
                   help="proofs sampled per conjecture to measure its pass rate (default 32, STP's K)")
    c.add_argument("--window", default="0,0.25", metavar="LO,HI",
                   help="keep conjectures with LO < pass rate <= HI (default 0,0.25: STP's (0, 1/4])")
    c.add_argument("--lemma", default=None, help="the lemma in the prompt (default STP's `theorem true: True`)")
    c.add_argument("--temperature", type=float, default=1.0)
    c.add_argument("--top-p", type=float, default=0.95)
    c.add_argument("--max-tokens", type=int, default=512, help="conjecture length (default 512)")
    c.add_argument("--prover-model", help="the prover that measures pass rates (default --model)")
    c.add_argument("--prover-endpoint", metavar="URL", help="(default --endpoint)")
    c.add_argument("--prover-template", choices=["deepseek-v1.5", "goedel-v2", "kimina"])
    c.add_argument("--prover-max-tokens", type=int, default=2048)
    c.add_argument("--seed", type=int, default=0)
    add_config_flags(p)
    add_count_fast_gate_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, strict_checker: object | None = None) -> int:
    """``strict_checker``: a stand-in for the kernel checker (tests)."""
    from bridge.runs.store import RunStore
    from bridge.scale import make_verifier as scaled_verifier
    from bridge.verify.api import Verifier
    from provers.backends import make_backend
    from provers.backends.base import SamplingParams
    from provers.synth import (
        FIXED,
        MAX_PER_SEED,
        METHODS,
        STP_LEMMA,
        ConjectureSettings,
        Synth,
        load_seeds,
        parse_window,
        strict_status,
        synth_into,
        write_outputs,
    )
    from provers.templates import family_for

    cfg = config_from_args(args)
    methods = tuple(dict.fromkeys(m.strip() for m in args.method.split(",") if m.strip()))
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad:
        raise InputError(f"--method {args.method}: unknown {', '.join(bad) or 'method'}", f"choose from {', '.join(METHODS)}")
    try:
        window = parse_window(args.window)
    except ValueError as e:
        raise InputError(str(e)) from None
    if "conjecture" in methods and not args.model:
        raise InputError("--method conjecture needs --model (the conjecturer)", "e.g. --model M --endpoint URL")
    if args.samples < 1 or args.conjectures < 1:
        raise InputError("--samples and --conjectures must be at least 1")
    max_per_seed = MAX_PER_SEED if args.max_per_seed is None else args.max_per_seed
    if max_per_seed < 0:
        raise InputError(f"--max-per-seed {max_per_seed}: must be 0 (no cap) or more")
    seeds = load_seeds(args.source, bool(cfg.count_fast_gate))
    seeds = seeds[: args.limit] if args.limit is not None else seeds
    if not seeds:
        raise InputError(f"{args.source}: no verified proof to synthesise from; give a `bridge prove` run directory "
                         "with proved samples, or a JSONL of rows with `formal_statement` and `proof`")
    against = decontam_sets(args.decontam, cfg)
    mode = "off" if args.no_strict else "require" if cfg.strict else "auto"
    base_cfg = dataclasses.replace(cfg, strict=False)
    strict = strict_status(mode, base_cfg, strict_checker)

    run_dir = Path(args.run_dir or f"runs/synth_{slug(args.source)}_{'-'.join(methods)}")

    def make_verifier(use_strict: bool) -> Verifier:
        from bridge.runs import provenance

        if not use_strict:
            v = scaled_verifier(base_cfg)
        else:
            v = scaled_verifier(dataclasses.replace(base_cfg, strict=True), strict_checker=strict_checker)
        provenance.record(run_dir, v)  # what decides this run's verdicts
        return v

    conj = ConjectureSettings(per_seed=args.conjectures, samples=args.samples, window=window,
                              lemma=args.lemma or STP_LEMMA,
                              params=SamplingParams(args.temperature, args.top_p, args.max_tokens, args.seed),
                              prover_params=SamplingParams(1.0, 0.95, args.prover_max_tokens, args.seed))
    meta = {"kind": "synth", "source": args.source, "methods": list(methods), "limit": args.limit,
            "decontam": list(against), "ngram": args.ngram, "max_per_seed": max_per_seed, "strict": strict[0],
            "strict_reason": strict[1]}
    if "conjecture" in methods:
        meta["conjecture_settings"] = {"model": args.model, "endpoint": args.endpoint, "per_seed": args.conjectures,
                                       "samples": args.samples, "window": list(window), "lemma": conj.lemma,
                                       "sampling": conj.params.to_json(), "prover_model": args.prover_model or args.model,
                                       "prover_sampling": conj.prover_params.to_json()}
    with RunStore(run_dir) as store:
        store.check_meta(meta, fixed=FIXED)
        conjecturer = prover = None
        if "conjecture" in methods:
            conjecturer = make_backend(args.model, endpoint=args.endpoint)
            pmodel = args.prover_model or args.model
            pend = args.prover_endpoint or args.endpoint
            pb = conjecturer if (pmodel, pend) == (args.model, args.endpoint) else make_backend(pmodel, endpoint=pend)
            prover = (pb, family_for(pmodel, args.prover_template))
        store.set_meta(meta)
        eprint(f"run directory: {run_dir} ({len(seeds)} verified proof(s); {', '.join(methods)}; strict: "
               f"{'yes' if strict[0] else 'no, ' + str(strict[1])})")
        synth = Synth(run_dir, store, methods, make_verifier, against, args.ngram, strict, bool(cfg.count_fast_gate),
                      conj, conjecturer, prover, log=eprint, max_per_seed=max_per_seed)
        with stop_on_signals(synth.stop, "every verdict"):
            outcome = synth_into(synth, seeds, meta)
        if outcome.stopped:
            eprint(f"bridge: stopped: every verdict so far is kept in {run_dir}; run the same command again to go on")
            return INTERRUPTED
    report = outcome.report
    dest = write_outputs(run_dir, outcome, Path(args.output) if args.output else None)[0]
    per = report["items_per_proof"]
    print(f"{report['seeds']} verified proof(s) -> {report['kept']} verified synthetic item(s) "
          f"({0 if per is None else per:.2f} per proof) -> {dest}")
    return 0
