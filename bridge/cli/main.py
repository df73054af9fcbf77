"""``bridge``: the entry point; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys
import warnings

from bridge.cli import (
    card,
    data,
    demo,
    doctor,
    export,
    formalize,
    iterate,
    lab,
    merge,
    pipeline,
    prm,
    prove,
    replay,
    report,
    rl,
    setup,
    solve,
    synth,
    train,
    verify,
)
from bridge.errors import BridgeError
from bridge.version import __version__

COMMANDS = [demo, verify, prove, report, export, data, setup, doctor, train, iterate, merge, card, rl, formalize,
            synth, solve, prm, lab, replay, pipeline]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bridge",
        description="Verify Lean 4 proofs at batch speed with a strict soundness gate, and evaluate "
        "prover models (Lean pass@k) on miniF2F, ProofNet and your own problems.",
    )
    p.add_argument("--version", action="version", version=f"bridge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.formatwarning = lambda msg, cat, *a, **k: f"bridge: warning: {msg}\n"
    try:
        return int(args.func(args) or 0)
    except BridgeError as e:
        print(f"bridge: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `bridge verify --json ... | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("bridge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
