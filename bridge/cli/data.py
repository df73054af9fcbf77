"""``bridge data``: list the named datasets, check a file, show curriculum bands."""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint, table
from bridge.data.bands import update_bands
from bridge.data.loader import load_dataset, resolve
from bridge.data.problem import BANDS
from bridge.data.specs import DatasetSpec, all_specs, get_spec
from bridge.data.validate import parse_rows
from bridge.errors import BridgeError, InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list datasets, check a dataset file, show curriculum bands",
                       description="Datasets: list the named ones, validate a JSONL file, show bands.")
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
                         "malformed, listing each as FILE:LINE: reason.")
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
    path = Path(args.file)
    if path.is_file():
        spec = get_spec(args.spec) if args.spec else DatasetSpec(
            name=path.stem, description="", file=path.name, splits=[], license="", lean_version="")
    else:
        spec = get_spec(args.file)
        path = resolve(spec, cfg).path
    try:
        raw = path.read_bytes().split(b"\n")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    problems, errors = parse_rows(raw, spec)
    for e in errors:
        print(e.format(path))
    if errors:
        eprint(f"{path}: {len(errors)} malformed row(s), {len(problems)} good")
        return 1
    counts = collections.Counter(p.split for p in problems)
    print(f"{path}: {len(problems)} problems OK (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")")
    return 0


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
