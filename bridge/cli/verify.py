"""``bridge verify PATH``: verify a .lean file or a JSONL of candidates."""

from __future__ import annotations

import argparse
import collections
import json
import sys

from tqdm import tqdm

from bridge.cli.common import add_config_flags, config_from_args, eprint, table
from bridge.verify.api import Verifier
from bridge.verify.inputs import read_candidates
from bridge.verify.verdict import VERDICTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="verify a .lean file or a JSONL of candidates",
        description="Verify candidates in Lean through a pool of sandboxed REPL workers. PATH is a .lean "
        'file or a JSONL file of {"id", "header", "code"} or {"id", "header", "formal_statement", "proof"} '
        "rows (header optional, default `import Mathlib`). Exit status 0 when every candidate got a "
        "verdict, whatever the verdicts.",
    )
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true",
                   help="write one JSON object per candidate to stdout as each finishes, and nothing else")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    candidates = read_candidates(args.path)  # raises for a missing file before any work starts
    counts: collections.Counter[str] = collections.Counter()
    with Verifier(cfg) as v:
        bar = tqdm(desc="verifying", unit="cand", file=sys.stderr, dynamic_ncols=True,
                   disable=None if not args.json else False)
        try:
            for verdict in v.verify(candidates):
                counts[verdict.verdict] += 1
                bar.update(1)
                bar.set_postfix(proved=counts["proved"], refresh=False)
                if args.json:
                    sys.stdout.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    line = f"{verdict.id}: {verdict.verdict}"
                    if verdict.reason:
                        line += f" ({verdict.reason.splitlines()[0][:160]})"
                    tqdm.write(line, file=sys.stdout)
        finally:
            bar.close()
            for header, err in v.setup_errors.items():
                first = header.strip().splitlines()[0] if header.strip() else "(empty header)"
                eprint(f"bridge: setup error: the header starting `{first}` does not elaborate:\n  {err[:600]}\n"
                       "  next step: check the imports exist in the Lake project and that Mathlib is built "
                       "(`bridge doctor`, `bridge setup`)")
        if v.unchecked:
            eprint(f"bridge: warning: {v.unchecked} candidate(s) were proved by the fast gate only: the REPL "
                   "gave `#print axioms` no answer, so axioms and the statement were not checked (is "
                   "--repl-cmd a real Lean REPL?)")
        rows = [[k, counts[k]] for k in VERDICTS if counts[k]] + [["total", sum(counts.values())]]
        summary = table(rows, ["verdict", "candidates"])
        stats = v.stats
        summary += (f"\nchecked in Lean: {stats.lean_checked}, cache hits: {stats.cache_hits}, "
                    f"duplicates: {stats.duplicates}, screened out: {stats.screened}, "
                    f"sandbox: {'on' if v.sandboxed else 'OFF'}, Lean {v.launch.lean_version}")
        eprint(summary) if args.json else print(summary)
    return 0
