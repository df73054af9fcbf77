"""Flags shared by subcommands, and turning them into the one configuration."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError


def add_config_flags(p: argparse.ArgumentParser, lean: bool = True) -> None:
    g = p.add_argument_group("configuration (flags override BRIDGE_* variables, which override the file)")
    g.add_argument("--config", metavar="FILE", help="configuration file (default: $BRIDGE_CONFIG or "
                   "~/.config/bridge/config.toml)")
    g.add_argument("--data-dir", metavar="DIR", help="where dataset files are looked for first")
    g.add_argument("--cache-dir", metavar="DIR", help="cache directory (results, downloads, workspaces)")
    if lean:
        g.add_argument("--lean-project", metavar="PATH", help="a Lake project with Mathlib and the REPL "
                       "(default: this repository's)")
        g.add_argument("--repl-cmd", metavar="CMD", help="start the REPL with this command line instead "
                       "(run in the project directory)")
        g.add_argument("--workers", type=int, help="REPL workers (default: from cores and memory)")
        g.add_argument("--timeout", type=float, help="wall-clock seconds per candidate (default 300)")
        g.add_argument("--no-sandbox", action="store_true", help="run Lean without bubblewrap (warns)")
        g.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
        g.add_argument("--strict", action="store_true", default=None,
                       help="re-check every proved candidate with the trusted kernel checker (bridge-check): "
                       "compiled in a fresh sandboxed lean, replayed in the kernel, type compared with the "
                       "reference; use it for data that trains a model")
        g.add_argument("--allow-native-decide", action="store_true", default=None,
                       help="accept native_decide (Lean.ofReduceBool, Lean.trustCompiler)")
        g.add_argument("--allow-fast-gate", action="store_true", default=None,
                       help="accept a --repl-cmd stand-in that is not Lean: when `#print axioms` gets no answer, "
                       "decide from errors and sorries only (verdicts marked gate=fast, never cached, not "
                       "counted as solved unless --count-fast-gate)")
        g.add_argument("--count-fast-gate", action="store_true", default=None,
                       help="count fast-gate `proved` verdicts as solved in prove/report/export")
        g.add_argument("--verbose", action="store_true", default=None,
                       help="when the REPL cannot start, show its full command line (inside the sandbox: the whole "
                       "bubblewrap command)")
        g.add_argument("--transport", choices=("auto", "pty", "pipe"),
                       help="how the REPL's answers come back (default auto: pipes when the project's REPL "
                       "flushes each answer, as `bridge setup` builds it; else a pseudo-terminal, because REPL "
                       "v4.9.0 as released never flushes a pipe)")
        g.add_argument("--ray", metavar="ADDRESS",
                       help="check on the Ray cluster at ADDRESS (\"auto\": the one this machine joined with "
                       "`ray start`; \"local\": start one here), one actor per worker (--workers; 0: one per "
                       'usable CPU); needs the ray extra (pip install -e ".[ray]")')


def config_from_args(args: argparse.Namespace) -> BridgeConfig:
    o: dict[str, Any] = {
        "data_dir": getattr(args, "data_dir", None),
        "cache_dir": getattr(args, "cache_dir", None),
        "lean_project": getattr(args, "lean_project", None),
        "repl_cmd": getattr(args, "repl_cmd", None),
        "workers": getattr(args, "workers", None),
        "timeout": getattr(args, "timeout", None),
        "strict": getattr(args, "strict", None),
        "allow_native_decide": getattr(args, "allow_native_decide", None),
        "allow_fast_gate": getattr(args, "allow_fast_gate", None),
        "count_fast_gate": getattr(args, "count_fast_gate", None),
        "transport": getattr(args, "transport", None),
        "ray": getattr(args, "ray", None),
        "verbose": getattr(args, "verbose", None),
    }
    if getattr(args, "no_sandbox", False):
        o["sandbox"] = False
    if getattr(args, "no_cache", False):
        o["use_cache"] = False
    cfg = load_config(getattr(args, "config", None), overrides=o)
    if hasattr(args, "no_sandbox"):  # a subcommand that runs Lean: refuse --strict --no-sandbox at once
        from bridge.verify.strict import strict_refusal

        refused = strict_refusal(cfg.strict, cfg.sandbox)
        if refused is not None:
            raise ConfigError(refused)
    return cfg


@contextmanager
def json_stdout(on: bool = True) -> Iterator[TextIO]:
    """Under ``--json``: the stream the JSON lines go to, while file descriptor 1 points at stderr.

    Stdout then holds our lines only, whatever else prints: Ray's driver writes ``(raylet) A worker died
    or was killed ...`` to ``sys.stdout`` from its error-listener thread (``listen_error_messages`` in
    ray/_private/worker.py, Ray 2.60), whatever ``log_to_driver`` says, and a process started meanwhile
    inherits fd 1. Restored on the way out. A stdout with no file descriptor (captured in-process) is
    used as it is.
    """
    if not on:
        yield sys.stdout
        return
    try:
        fd = sys.stdout.fileno()
        err = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    out = os.fdopen(os.dup(saved), "w", encoding="utf-8", newline="\n")
    os.dup2(err, fd)
    try:
        yield out
    finally:
        try:
            out.close()
        finally:
            sys.stdout.flush()
            os.dup2(saved, fd)
            os.close(saved)


def eprint(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)
