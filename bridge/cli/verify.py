"""``bridge verify PATH``: verify a .lean file or a JSONL of candidates."""

from __future__ import annotations

import argparse
import collections
import json
import sys

from tqdm import tqdm

from bridge.cli.common import add_config_flags, config_from_args, eprint, json_stdout, table
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError
from bridge.lean.header import NEXT_STEP_HEADER
from bridge.scale import make_verifier
from bridge.verify.inputs import read_candidates
from bridge.verify.verdict import VERDICTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a .lean file or a JSONL of candidates",
        description="Verify candidates in Lean through a pool of sandboxed REPL workers. PATH is a .lean "
        'file, a JSONL file of {"id", "header", "code"} or {"id", "header", "formal_statement", "proof"} '
        "rows (header optional, default `import Mathlib`), or - for standard input. Exit status 0 when "
        "every candidate got a verdict, whatever the verdicts; 2 for unreadable input; 3 when Lean cannot "
        "run; 130 when stopped by Ctrl-C/SIGTERM (every verdict printed before is cached: rerun to go on).",
    )
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true",
                   help="write one JSON object per candidate to stdout as each finishes, and nothing else")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="report a malformed JSONL row (FILE:LINE: why) on stderr and go on, instead of stopping")
    p.add_argument("--allow-empty", action="store_true", help="an input with no candidate is not an error")
    p.add_argument("--per-theorem", action="store_true",
                   help="a .lean file: one verdict per theorem (id FILE:NAME), each decided by its own lines "
                   "and axioms; without it the file gets one verdict that gates every theorem")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    bad_rows: list[InputError] = []

    def on_bad_row(e: InputError) -> None:
        bad_rows.append(e)
        eprint(f"bridge: skipped: {e.message}")

    # raises for a missing file before any work starts
    candidates = read_candidates(args.path, per_theorem=args.per_theorem,
                                 on_bad_row=on_bad_row if args.skip_bad_rows else None)
    counts: collections.Counter[str] = collections.Counter()
    # under --json, fd 1 carries verdict lines only (Ray prints to stdout): see json_stdout
    with json_stdout(args.json) as out, make_verifier(cfg) as v, stop_on_signals(v.stop, "every verdict"):
        bar = tqdm(desc="verifying", unit="cand", file=sys.stderr, dynamic_ncols=True,
                   disable=None if not args.json else False)
        try:
            for verdict in v.verify(candidates):
                counts[verdict.verdict] += 1
                bar.update(1)
                bar.set_postfix(proved=counts["proved"], refresh=False)
                if args.json:
                    out.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
                    out.flush()
                else:
                    line = f"{verdict.id}: {verdict.verdict}"
                    if verdict.reason:
                        line += f" ({verdict.reason.splitlines()[0][:160]})"
                    tqdm.write(line, file=sys.stdout)
        finally:
            bar.close()
            for header, err in v.setup_errors.items():
                first = header.strip().splitlines()[0] if header.strip() else "(empty header)"
                eprint(f"bridge: setup error: the header starting `{first}` is unusable: {err[:600]}\n"
                       f"  its candidates got verdict `crashed` (rule `setup`) and were not cached\n"
                       f"  next step: {NEXT_STEP_HEADER}")
        if v.unchecked:
            eprint(f"bridge: warning: {v.unchecked} candidate(s) were proved by the fast gate only "
                   "(--allow-fast-gate): the REPL gave `#print axioms` no answer, so axioms and the statement "
                   "were not checked; these are marked gate=fast")
        rows = [[k, counts[k]] for k in VERDICTS if counts[k]] + [["total", sum(counts.values())]]
        summary = table(rows, ["verdict", "candidates"])
        stats = v.stats
        # decided verdicts only: after a stop, candidates sent but abandoned in flight have none
        where = "by the stand-in REPL (not Lean)" if v.stand_in else "in Lean"
        abandoned = stats.lean_checked - stats.lean_decided
        summary += (f"\nchecked {where}: {stats.lean_decided}"
                    + (f" (sent but not decided: {abandoned}; the rerun checks them)" if abandoned > 0 else "")
                    + f", cache hits: {stats.cache_hits}, "
                    f"duplicates: {stats.duplicates}, screened out: {stats.screened}, "
                    f"sandbox: {'on' if v.sandboxed else 'OFF'}, Lean {v.launch.lean_version}")
        if bad_rows:
            summary += f"\nskipped malformed rows: {len(bad_rows)}"
        eprint(summary) if args.json else print(summary)
        if v.stopped:
            eprint(f"bridge: stopped: {sum(counts.values())} verdict(s) printed and cached; run the same "
                   "command again to check the rest (nothing decided is checked twice)")
            return INTERRUPTED
    if not counts and not args.allow_empty:
        raise InputError(f"{args.path}: no candidates in the input" + (" (every row was malformed)" if bad_rows else ""),
                         "check the file (or pass --allow-empty when an empty input is expected)")
    return 0
