"""``bridge replay RUN_DIR``: verify again every accepted proof a run directory holds, from its stored texts
alone, with today's verifier; report every verdict that differs.

Exit codes: 0 every stored verdict is given again; 1 at least one differs (each is named); 2 bad input (not a
run directory, an altered file that cannot be read); 3 setup (no REPL, --strict without the kernel checker);
130 stopped (Ctrl-C, SIGTERM: nothing is claimed about the proofs not yet checked)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint, table
from bridge.cli.signals import INTERRUPTED, stop_on_signals
from bridge.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="verify again every accepted proof a run directory holds; report verdicts that differ",
        description="Find every accepted proof stored under RUN_DIR (a prove, iterate, formalize, synth, pipeline or "
        "rl run: run.sqlite proved samples, synthetic.jsonl / proved.jsonl / train.jsonl rows, rl's rewards.jsonl), "
        "verify each again from its stored texts alone (no result cache) with today's verifier, with the kernel "
        "checker when it is there (--strict requires it, --no-strict skips it), and name every verdict that "
        "differs. What produced the stored verdicts (RUN_DIR/provenance.json: bridge version, Lean version, Lake "
        "manifest hash, screen rules hash) is compared with today's. Writes RUN_DIR/replay.json. Exit 0: no "
        "difference; 1: a verdict differs; 2: bad input; 3: setup; 130: stopped.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--no-strict", dest="strict", action="store_false", default=None,
                   help="do not use the kernel checker even when it is there")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, strict_checker: object | None = None) -> int:
    from bridge.runs.replay import DIFFERS, replay, write_result
    from bridge.verify.api import Verifier

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such directory", "give the run directory of a prove, iterate, formalize, "
                         "synth, pipeline or rl run")
    cfg = config_from_args(args)
    held: list[Verifier] = []
    stopped = [False]

    def stop() -> None:
        stopped[0] = True
        for v in held:
            v.stop()

    with stop_on_signals(stop, "every verdict"):
        result = replay(run_dir, cfg, args.strict, strict_checker, log=eprint, started=held.append)
    for line in result.changed:
        eprint(f"changed since the stored verdicts: {line}")
    if result.differences:
        eprint(table([[d.source, d.id, d.stored, d.now, d.reason[:80]] for d in result.differences],
                     ["where", "proof", "stored", "now", "why"]))
    path = write_result(run_dir, result)
    if stopped[0] or result.unchecked:
        eprint(f"bridge: stopped: {len(result.unchecked)} accepted proof(s) not checked again; wrote {path}")
        return INTERRUPTED
    print(f"{result.checked} accepted proof(s) verified again"
          f"{' (kernel checker on)' if result.strict else ''}: {len(result.differences)} verdict(s) differ")
    eprint(f"wrote {path}")
    return DIFFERS if result.differences else 0
