"""``bridge demo``: see the product work in one command, without Lean, a GPU or the network.

It runs the real ``prove`` -> ``report`` -> ``export`` path with two stand-ins: bridge's stand-in REPL
(not Lean; it decides by markers in the text) and a scripted prover (fixed answers). Every verdict,
the report and this console say so; the stand-in's verdicts never enter the result cache and count as
solved only inside the demo's own run directory.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bridge.cli.common import eprint
from bridge.errors import InputError

BANNER = ("bridge demo: STAND-IN verdicts, not Lean's. A stand-in REPL (bridge/demo/standin_repl.py, "
          "which decides by markers in the text) and a scripted prover (fixed answers) run the real "
          "prove -> report -> export path. Nothing here is checked by Lean, cached, or counted outside "
          "this run directory.")
REAL = ("for Lean's verdicts: `bridge setup` (Lean v4.9.0 + Mathlib + the REPL), then "
        "`bridge prove minif2f --samples 64` with a model on a GPU (ml extra) or `--endpoint URL`")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="see prove -> report -> export work without Lean, a GPU or the network (stand-in verdicts)",
        description=BANNER)
    p.add_argument("--run-dir", metavar="DIR", default="bridge-demo",
                   help="where the demo's run goes (default ./bridge-demo); rerunning resumes it")
    p.set_defaults(func=run)


def _config(run_dir: Path):  # -> BridgeConfig
    from bridge.config import load_config
    from bridge.demo import STANDIN_REPL
    from bridge.lean.sandbox import sandbox_available

    sandboxed = sandbox_available()[0]
    if not sandboxed:
        eprint("bridge demo: bubblewrap is not available here, so the stand-in REPL runs unsandboxed "
               "(it executes nothing of what it is sent)")
    return load_config(overrides=dict(
        repl_cmd=f"{shlex.quote(sys.executable)} {shlex.quote(str(STANDIN_REPL))}", workers=2, timeout=20.0,
        header_timeout=20.0, sandbox=sandboxed, lean_version="stand-in (not Lean)", strict=False,
        allow_fast_gate=False, count_fast_gate=False, ray=None))


def run(args: argparse.Namespace) -> int:
    import warnings

    from bridge.cli import export, prove, report
    from bridge.demo import PROBLEMS, SAMPLES
    from bridge.demo.prover import ScriptedProver
    from bridge.runs.store import RunStore

    run_dir = Path(args.run_dir)
    if (run_dir / "run.sqlite").is_file():
        with RunStore.open_existing(run_dir) as store:
            if store.meta() and not store.is_demo():
                raise InputError(f"{run_dir}: a run directory of another run, not a demo's",
                                 "give `bridge demo --run-dir` a new directory")
    eprint(BANNER)
    # the three commands' own parsers (not bridge.cli.main's, which lists this module: no import circle)
    parser = argparse.ArgumentParser(prog="bridge")
    sub = parser.add_subparsers(dest="command")
    for mod in (prove, report, export):
        mod.add_parser(sub)
    prove_args = parser.parse_args(["prove", str(PROBLEMS), "--samples", str(SAMPLES), "--model",
                                    ScriptedProver.name, "--run-dir", str(run_dir)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="running model-written Lean without a sandbox")
        code = prove.run(prove_args, cfg=_config(run_dir), backend=ScriptedProver(), demo=True)
    if code:
        return code
    eprint("\n== bridge report " + str(run_dir))
    code = report.run(parser.parse_args(["report", str(run_dir)]))
    if code:
        return code
    out = run_dir / "proofs.jsonl"
    eprint(f"\n== bridge export {run_dir} --proved -o {out}")
    code = export.run(parser.parse_args(["export", str(run_dir), "--proved", "-o", str(out)]))
    if code:
        return code
    eprint(f"\nbridge demo: done; STAND-IN verdicts, not Lean's: see {run_dir}/report.md, passk.png and "
           f"{out}.\n  {REAL}")
    return 0
