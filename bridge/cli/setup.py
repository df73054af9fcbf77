"""``bridge setup``: the Lean half of the installation (toolchain, Mathlib cache, REPL, checker)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.cli.common import add_config_flags, config_from_args, eprint
from bridge.lean.project import find_project
from bridge.lean.versions import normalise, supported_table
from bridge.lean.workspace import setup, write_workspace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "setup",
        help="install the pinned Lean toolchain, fetch Mathlib's cache, build the REPL",
        description="Make a Lean workspace ready (needs elan): install the toolchain of lean-toolchain, "
        "fetch the Mathlib build cache (lake exe cache get), build the REPL, the kernel checker bridge-check "
        "(--strict) and lean4checker. Idempotent: steps already done are skipped. By default it prepares "
        "this repository's Lake project (Lean v4.9.0); --lean VERSION writes a workspace for another "
        "version under the cache directory (use it afterwards with --lean-project); --lean-project PATH "
        "prepares an existing project.",
    )
    p.add_argument("--lean", metavar="VERSION",
                   help="make a workspace for this Lean version (an unsupported one is refused before anything "
                   "is written). Supported, with the REPL revision pinned for each: " + supported_table())
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.lean:
        version = normalise(args.lean)
        path = Path(cfg.cache_dir) / "workspaces" / version
        project = write_workspace(path, version)
        eprint(f"workspace for Lean {version}: {path}")
    else:
        project = find_project(cfg)
        eprint(f"workspace: {project.path} ({project.toolchain})")
    ran = setup(project, eprint)
    eprint(f"setup complete ({len(ran)} step(s) run). Check with: bridge doctor"
           + (f" --lean-project {project.path}" if args.lean else ""))
    return 0
