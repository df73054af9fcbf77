"""``bridge report RUN_DIR [RUN_DIR ...]``: pass@k and the per-problem table of a run, or several runs
overlaid in one plot and one table."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import eprint
from bridge.eval.report import build_report, comparison_markdown, write_comparison, write_report
from bridge.runs.store import RunStore, writable_dir


def add_count_fast_gate_flag(p: argparse.ArgumentParser) -> None:
    """``--count-fast-gate`` unless the shared configuration flags already define it."""
    if not any("--count-fast-gate" in a.option_strings for a in p._actions):
        p.add_argument("--count-fast-gate", action="store_true", default=None,
                       help="count `proved` verdicts of the fast gate (--allow-fast-gate: a REPL that is not "
                       "Lean) as solved; by default they are reported but not counted")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a run's report (markdown, JSON, pass@k PNG), or compare runs",
                       description="Compute pass@k (unbiased estimator, with 95 % bootstrap intervals over "
                       "problems) per split and band from a run directory and write RUN_DIR/report.json, "
                       "report.md and passk.png. With several run directories: one table and one plot of "
                       "them all, written to --out.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--out", metavar="DIR", default="bridge-report",
                   help="where the comparison of several runs goes (default ./bridge-report)")
    add_count_fast_gate_flag(p)
    p.set_defaults(func=run)


def _labels(dirs: list[Path]) -> list[str]:
    names = [d.name for d in dirs]
    return [n if names.count(n) == 1 else str(d) for n, d in zip(names, dirs, strict=True)]


def run(args: argparse.Namespace) -> int:
    dirs = [Path(d) for d in args.run_dirs]
    if len(dirs) == 1 and (dirs[0] / "rounds.json").is_file() and not (dirs[0] / "run.sqlite").is_file():
        # an expert-iteration run directory (`bridge iterate`): the rounds table and plot
        from bridge.train.rounds import write_rounds

        paths = write_rounds(dirs[0])
        print(Path(paths[1]).read_text(encoding="utf-8").rstrip())
        eprint("wrote " + ", ".join(map(str, paths)))
        return 0
    if len(dirs) > 1:  # the output directory is checked before anything is read
        writable_dir(Path(args.out), "output directory", "--out")
    reports = []
    for d in dirs:  # every directory is checked before anything is written
        with RunStore.open_existing(d) as store:
            reports.append(build_report(store, count_fast_gate=args.count_fast_gate))
    if len(dirs) == 1:
        paths = write_report(dirs[0], reports[0])
        print(Path(paths[1]).read_text(encoding="utf-8").split("## Problems")[0].rstrip())
    else:
        runs = list(zip(_labels(dirs), reports, strict=True))
        paths = write_comparison(Path(args.out), runs)
        print(comparison_markdown(runs).rstrip())
    eprint("wrote " + ", ".join(str(p) for p in paths))
    return 0
