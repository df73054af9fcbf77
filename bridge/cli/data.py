"""``bridge data``: list the named datasets, check a file, show curriculum bands, find overlaps."""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint, table
from bridge.data.bands import update_bands
from bridge.data.decontam import NEAR_THRESHOLD, NGRAM, find_overlaps, load_against, spec_name
from bridge.data.loader import load_dataset, looks_like_path, resolve
from bridge.data.problem import BANDS
from bridge.data.specs import DatasetSpec, all_specs, generic_spec, get_spec, spec_for_file
from bridge.data.validate import parse_rows
from bridge.errors import BridgeError, InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list datasets, check a dataset file, show curriculum bands, decontaminate",
                       description="Datasets: list the named ones, validate a JSONL file, show bands, find "
                       "problems that overlap evaluation sets.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION")

    pl = dsub.add_parser("list", help="every named dataset with its split sizes where available",
                         description="Every named dataset, its source, Lean version and split sizes (read "
                         "from local copies: the data directory, the cache or the built-in sets; nothing "
                         "is downloaded).")
    pl.add_argument("--json", action="store_true",
                    help='print a list of {"name", "splits", "source", "lean_version"}')
    add_config_flags(pl, lean=False)
    pl.set_defaults(func=run_list)

    pc = dsub.add_parser("check", help="validate a dataset JSONL file: FILE:LINE: reason for each bad row",
                         description="Validate every row of FILE (or of a named dataset). Exit 1 if any row is "
                         "malformed (or there is none), listing each as FILE:LINE: reason. A file that is a copy "
                         "of a named dataset (same content as the pinned file, or the same file name, e.g. "
                         "proofnet.jsonl) is checked with that dataset's rules, as by name.")
    pc.add_argument("file", metavar="FILE_OR_NAME")
    pc.add_argument("--spec", metavar="NAME", help="check FILE with a named dataset's rules (e.g. proofnet)")
    add_config_flags(pc, lean=False)
    pc.set_defaults(func=run_check)

    pb = dsub.add_parser("bands", help="the curriculum band table of a dataset",
                         description="Curriculum bands (simple, intermediate, advanced, lean-formalized) per "
                         "split. --from-run updates the stored bands from the solve rates of past runs.")
    pb.add_argument("name", metavar="NAME")
    pb.add_argument("--from-run", metavar="RUN_DIR", action="append", default=[],
                    help="update bands from this run's measured solve rates (repeatable)")
    pb.add_argument("--json", action="store_true", help="print {problem id: band} as JSON")
    add_config_flags(pb, lean=False)
    pb.set_defaults(func=run_bands)

    pd = dsub.add_parser("decontam", help="problems of a dataset whose statements overlap evaluation sets",
                         description="Print the problems of DATASET (a name or a JSONL file) whose formal statement "
                         "matches one of the --against sets, compared whole (docs/decontamination.md): the same "
                         "canonical statement (the theorem's name, binder and hypothesis names, whitespace, comments, "
                         "redundant parentheses and the order of hypotheses ignored), or the same conclusion and a "
                         "near-duplicate score (Jaccard of canonical token N-grams) of at least --threshold. A dataset "
                         "checked against itself is compared split with split. Exit 0 whatever is found.")
    pd.add_argument("dataset", metavar="DATASET")
    pd.add_argument("--against", required=True, metavar="SETS",
                    help="comma-separated evaluation sets, each NAME (every split) or NAME:SPLIT, names or JSONL "
                    "files, e.g. minif2f:test,proofnet (as iterate --decontam)")
    pd.add_argument("--split", help="only this split of DATASET")
    pd.add_argument("--ngram", type=int, default=NGRAM, metavar="N",
                    help=f"n-gram length of the near-duplicate score (default {NGRAM}; the threshold is calibrated for it)")
    pd.add_argument("--threshold", type=float, default=NEAR_THRESHOLD, metavar="S",
                    help=f"near-duplicate score from which two statements with the same conclusion match "
                    f"(default {NEAR_THRESHOLD}, calibrated on miniF2F and ProofNet)")
    pd.add_argument("--json", action="store_true",
                    help='print {"dataset", "against", "ngram", "threshold", "problems", "overlaps": [{"id", "split", '
                    '"against", "against_id", "against_split", "reason", "score"}]}')
    add_config_flags(pd, lean=False)
    pd.set_defaults(func=run_decontam)

    pt = dsub.add_parser("trace", help="problem rows from any Lean repository, traced by lean-dojo",
                         description="Trace REPO at --rev with lean-dojo (the dojo extra: pip install -e \".[dojo]\"; it "
                         "clones and builds the repository with its own toolchain, and caches) and write one problem "
                         "row per theorem: name (the full name), header (the file's imports and opens, and an open "
                         "of the theorem's namespace), formal_statement (ending in `:= by`), informal_prefix and "
                         "informal_statement from its docstring where it has one, proof (the human tactic proof, "
                         "for SFT; term proofs have none), source, file, lean_version. A pool for `bridge prove "
                         "--split train`, `bridge iterate` and `bridge train sft`.")
    pt.add_argument("repo", metavar="REPO", help="a git URL (or a local path) of a Lean 4 repository")
    pt.add_argument("--rev", required=True, metavar="REV", help="commit, tag or branch")
    pt.add_argument("-o", "--output", metavar="FILE", help="the rows' JSONL (default NAME_REV.jsonl)")
    pt.add_argument("--split", default="train", help="the rows' split (default train)")
    pt.add_argument("--limit", type=int, metavar="K", help="only the first K theorems")
    pt.add_argument("--with-dependencies", action="store_true",
                    help="also the theorems of the repository's dependencies (Mathlib, ...)")
    add_config_flags(pt, lean=False)
    pt.set_defaults(func=run_trace)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _sizes(spec: DatasetSpec, cfg: object) -> dict[str, int] | None:
    try:
        res = resolve(spec, cfg, download=False)  # type: ignore[arg-type]
    except BridgeError:
        return None
    problems, errors = parse_rows(res.path.read_bytes().split(b"\n"), spec)
    if errors:
        return None
    counts = collections.Counter(p.split for p in problems)
    return {s: counts[s] for s in sorted(counts)}


def run_list(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    out = []
    for spec in all_specs().values():
        out.append({"name": spec.name, "splits": _sizes(spec, cfg), "source": spec.source,
                    "lean_version": spec.lean_version, "license": spec.license, "description": spec.description})
    if args.json:
        print(json.dumps(out, indent=1, ensure_ascii=False))
        return 0
    rows = []
    for d in out:
        sizes = ", ".join(f"{k} {v}" for k, v in d["splits"].items()) if d["splits"] else "not local"
        rows.append([d["name"], sizes, d["lean_version"] or "-", d["source"][:70]])
    print(table(rows, ["name", "splits", "lean", "source"]))
    return 0


def run_check(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    path = Path(args.file).expanduser()
    rules = ""
    if path.is_file():
        if args.spec:
            spec, rules = get_spec(args.spec), f"the {args.spec} dataset's rules (--spec)"
        elif (found := spec_for_file(path)) is not None:
            spec, rules = found[0], f"the {found[0].name} dataset's rules (the file's {found[1]} matches it)"
        else:
            spec = generic_spec(path)
    elif looks_like_path(args.file):
        raise InputError(f"{args.file}: no such file", "give an existing JSONL file, or a dataset name "
                         "(bridge data list)")
    else:
        spec = get_spec(args.spec or args.file)
        path = resolve(get_spec(args.file), cfg).path
    try:
        raw = path.read_bytes().split(b"\n")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    if rules:
        eprint(f"{path}: checked with {rules}")
    rows = sum(1 for r in raw if r.strip())
    problems, errors = parse_rows(raw, spec)
    for e in errors:
        print(e.format(path))
    if errors:
        bad = len({e.line for e in errors})
        eprint(f"{path}: {bad} malformed row(s), {len(problems)} good, of {rows} row(s)")
        return 1
    if not problems:
        eprint(f"{path}: no problems (the file has no rows)")
        return 1
    counts = collections.Counter(p.split for p in problems)
    print(f"{path}: {len(problems)} problems OK (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")")
    return 0


def run_trace(args: argparse.Namespace) -> int:
    import re

    from bridge.data.trace import trace_repo, trace_rows
    from bridge.lean.project import find_project

    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    traced = trace_repo(args.repo, args.rev)
    result = trace_rows(traced, split=args.split, with_dependencies=args.with_dependencies, limit=args.limit)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", args.repo.rstrip("/").split("/")[-1].removesuffix(".git"))
    out = Path(args.output or f"{name}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', args.rev)[:12]}.jsonl")
    tmp = out.with_name(out.name + ".part")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.rows), encoding="utf-8")
    tmp.replace(out)
    with_proof = sum(1 for r in result.rows if "proof" in r)
    print(f"{len(result.rows)} theorem(s), {with_proof} with a human tactic proof -> {out}")
    for why, n in result.skipped.most_common():
        eprint(f"  left out: {n} ({why})")
    ours = find_project(config_from_args(args)).lean_version
    theirs = getattr(traced.repo, "lean_version", None)
    if theirs and ours and theirs != ours:
        eprint(f"bridge: warning: {args.repo} is on Lean {theirs}, the verifier on {ours}: statements may not "
               "elaborate here (check them with `bridge verify` or a short `bridge prove` run first)")
    return 0


def run_decontam(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.ngram < 1:
        raise InputError("--ngram must be at least 1")
    if not 0 < args.threshold <= 1:
        raise InputError(f"--threshold {args.threshold}: must be in (0, 1]", f"the calibrated default is {NEAR_THRESHOLD}")
    names = [a.strip() for a in args.against.split(",") if a.strip()]
    if not names:
        raise InputError("--against names no dataset", "e.g. --against minif2f:test,proofnet")
    problems = load_dataset(args.dataset, cfg, split=args.split)
    if not problems:
        raise InputError(f"{args.dataset}: no problems" + (f" in split {args.split!r}" if args.split else ""))
    if not problems[0].formal_statement:
        raise InputError(f"{args.dataset} has no formal statements", "decontamination compares formal statements")
    against = {n: [p for p in ev if p.formal_statement] for n, ev in load_against(names, cfg).items()}
    itself = [n for n in names if _same_dataset(spec_name(n), args.dataset)]
    found = find_overlaps(problems, against, n=args.ngram, itself=itself, threshold=args.threshold)
    if args.json:
        print(json.dumps({"dataset": args.dataset, "against": names, "ngram": args.ngram, "threshold": args.threshold,
                          "problems": len(problems), "overlaps": [o.to_json() for o in found]},
                         indent=1, ensure_ascii=False))
        return 0
    if found:
        print(table([[o.id, o.split, f"{o.against}:{o.against_split}:{o.against_id}" if ":" not in o.against
                      else f"{o.against}:{o.against_id}", o.reason] for o in found],
                    ["problem", "split", "matches", "reason"]))
    hit = len({(o.split, o.id) for o in found})
    eprint(f"{hit} of {len(problems)} problem(s) of {args.dataset} overlap {', '.join(names)} "
           f"(the same canonical statement, or the same conclusion and a near-duplicate score >= {args.threshold})")
    return 0


def _same_dataset(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.is_file() and pb.is_file() and pa.resolve() == pb.resolve()


def run_bands(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    problems = load_dataset(args.name, cfg)
    if args.from_run:
        from bridge.runs.store import RunStore

        rates: dict[str, tuple[int, int]] = {}
        for rd in args.from_run:
            with RunStore.open_existing(Path(rd)) as store:
                for pid, (n, c) in store.counts().items():
                    n0, c0 = rates.get(pid, (0, 0))
                    rates[pid] = (n0 + n, c0 + c)
        update_bands(cfg, args.name, problems, rates, get_spec(args.name))
    if args.json:
        print(json.dumps({p.id: p.band for p in problems}, indent=1))
        return 0
    splits = sorted({p.split for p in problems})
    rows = []
    for band in (*BANDS, None):
        counts = [sum(1 for p in problems if p.band == band and p.split == s) for s in splits]
        if any(counts):
            rows.append([band or "(none)", *counts, sum(counts)])
    print(table(rows, ["band", *splits, "total"]))
    return 0
