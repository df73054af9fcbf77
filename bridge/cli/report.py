"""``bridge report RUN_DIR``: pass@k and the per-problem table of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import eprint
from bridge.eval.report import build_report, write_report
from bridge.runs.store import RunStore


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a run's report (markdown, JSON, pass@k PNG)",
                       description="Compute pass@k (unbiased estimator) per split and band from a run "
                       "directory and write RUN_DIR/report.json, report.md and passk.png.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with RunStore.open_existing(Path(args.run_dir)) as store:
        report = build_report(store)
    paths = write_report(Path(args.run_dir), report)
    print(Path(paths[1]).read_text(encoding="utf-8").split("## Problems")[0].rstrip())
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0
