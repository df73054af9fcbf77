"""``bridge card RUN_DIR``: render a model card (README.md) from a run's training summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import eprint
from bridge.cli.publish import add_push_flags, preflight, push_run


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="write a model card (README.md) for an iterate run or a train sft output",
                       description="Render RUN_DIR/README.md with jinja2 from the run's records: base model, data "
                       "and bands, the rounds table, parameter counts with the trainable-share bar, pass@k with "
                       "its setup. RUN_DIR is a `bridge iterate --run-dir` or a `bridge train sft --out` directory.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="FILE", help="where to write (default RUN_DIR/README.md)")
    add_push_flags(p, "the run's (final) adapter with this card and its training summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bridge.train.card import CardConfig, write_card

    preflight(args)
    out = write_card(CardConfig(Path(args.run_dir), Path(args.out) if args.out else None))
    eprint(f"wrote {out}")
    if args.push_to_hub:
        push_run(Path(args.run_dir), args, card=out)
    return 0
