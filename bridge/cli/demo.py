"""``bridge demo``: see the product work in one command, without Lean, a GPU or the network.

It runs the real ``prove`` -> ``report`` -> ``export`` path with two stand-ins: bridge's stand-in REPL
(not Lean; it decides by markers in the text) and a scripted prover (fixed answers). Every verdict,
the report and this console say so; the stand-in's verdicts never enter the result cache and count as
solved only inside the demo's own run directory.

``--tiny-model`` (the ``ml`` extra) then builds a tiny random transformers model locally
(``bridge/demo/tiny_model.py``) and runs one real ``bridge iterate`` round with it and the stand-in REPL
in ``RUN_DIR/iterate/``: sample, keep the stand-in-verified proofs, LoRA SFT, rounds.json. That run is
marked a demo's (``IterateConfig.demo``, which no flag sets), so the stand-in's verdicts count and become
training rows there and nowhere else.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bridge.cli.common import eprint
from bridge.errors import InputError, SetupError

BANNER = ("bridge demo: STAND-IN verdicts, not Lean's. A stand-in REPL (bridge/demo/standin_repl.py, "
          "which decides by markers in the text) and a scripted prover (fixed answers) run the real "
          "prove -> report -> export path. Nothing here is checked by Lean, cached, or counted outside "
          "this run directory.")
ML = ("torch", "transformers", "trl", "peft")  # what --tiny-model's iterate round needs (the ml extra)
# one iterate round that finishes in seconds on 2 cores: 6 problems + 1 canary x 4 samples of 8 tokens,
# 3 LoRA steps; decontamination off (it needs miniF2F/ProofNet, which the demo may not have), no strict
# re-check (the stand-in has no kernel to replay)
TINY_ITERATE = ("--rounds", "1", "--samples", "4", "--max-tokens", "8", "--template", "deepseek-v1.5",
                "--device", "cpu", "--canaries", "1", "--decontam", "none", "--no-strict", "--max-steps", "3",
                "--warmup", "0", "--lr", "1e-2", "--max-length", "256", "--logging-steps", "1",
                "--train-batch-size", "4")
REAL = ("for Lean's verdicts: `bridge setup` (Lean v4.9.0 + Mathlib + the REPL), then "
        "`bridge prove minif2f --samples 64` with a model on a GPU (ml extra) or `--endpoint URL`")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="see prove -> report -> export work without Lean, a GPU or the network (stand-in verdicts)",
        description=BANNER)
    p.add_argument("--run-dir", metavar="DIR", default="bridge-demo",
                   help="where the demo's run goes (default ./bridge-demo); rerunning resumes it")
    p.add_argument("--tiny-model", action="store_true",
                   help="then (ml extra) build a tiny random transformers model locally and run one real "
                   "`iterate` round with it and the stand-in REPL in DIR/iterate/ (stand-in verdicts)")
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
    if getattr(args, "tiny_model", False):
        _need_ml()  # before anything runs: one line, exit 3
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
    if getattr(args, "tiny_model", False):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="running model-written Lean without a sandbox")
            code = tiny_iterate(run_dir, _config(run_dir))
        if code:
            return code
    eprint(f"\nbridge demo: done; STAND-IN verdicts, not Lean's: see {run_dir}/report.md, passk.png and "
           f"{out}" + (f", and {run_dir / 'iterate'}/rounds.json" if getattr(args, "tiny_model", False) else "")
           + f".\n  {REAL}")
    return 0


def _need_ml() -> None:
    missing = []
    for m in ML:
        try:
            __import__(m)
        except ImportError:
            missing.append(m)
    if missing:
        raise SetupError(f"bridge demo --tiny-model needs the ml extra ({', '.join(missing)} not installed): "
                         'pip install -e ".[ml]"')


def tiny_iterate(run_dir: Path, cfg) -> int:  # cfg: the demo's BridgeConfig (the stand-in REPL)
    """One real ``bridge iterate`` round in RUN_DIR/iterate/ with a tiny random model built in
    RUN_DIR/tiny-model/ and the stand-in REPL; a rerun resumes it (or finds it finished)."""
    import dataclasses
    import json

    from bridge.cli import iterate
    from bridge.cli.iterate import config_from
    from bridge.demo import PROBLEMS
    from bridge.demo.tiny_model import build_word_model
    from bridge.train.iterate import Iteration

    model, it_dir = run_dir / "tiny-model", run_dir / "iterate"
    eprint(f"\n== bridge demo --tiny-model: one `bridge iterate` round in {it_dir}, STAND-IN verdicts, not Lean's")
    if not (model / "tokenizer.json").is_file():  # written last
        eprint(f"building a tiny random model (a 2-layer Llama that has learned nothing) in {model}")
        build_word_model(model)
    eprint("  decontamination against miniF2F/ProofNet is off here (--decontam none: the demo needs no data "
           "set); the stand-in refuses every canary (`bridge_canary_...`, statements known to be false), its "
           "model of Lean, which proves none; no strict re-check (the stand-in has no kernel to replay)")
    parser = argparse.ArgumentParser(prog="bridge")  # iterate's own parser: bridge.cli.main lists this module
    iterate.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["iterate", str(PROBLEMS), "--model", str(model), "--run-dir", str(it_dir),
                                      *TINY_ITERATE])
    # the demo mark: no flag sets it; with the stand-in REPL its verdicts count in this run only
    icfg = dataclasses.replace(config_from(args), demo=True)
    # every line of the round says whose verdicts these are ("verified" means: by the stand-in)
    code = Iteration(icfg, cfg, lambda line: eprint(f"[stand-in] {line}")).run()
    if code:
        return code
    rounds = json.loads((it_dir / "rounds.json").read_text(encoding="utf-8"))
    r = rounds[0]
    eprint(f"\n== {it_dir / 'rounds.md'}\n" + (it_dir / "rounds.md").read_text(encoding="utf-8").rstrip())
    adapter = it_dir / "round-1" / "adapter"
    eprint(f"\nbridge demo --tiny-model: round 1 done (STAND-IN verdicts, not Lean's): {r['proved_samples']} of "
           f"{r['samples']} samples accepted by the stand-in, {r['training_rows']} training row(s); "
           f"rounds: {it_dir / 'rounds.json'}; "
           + (f"adapter: {adapter}" if adapter.is_dir() else f"no adapter: {r.get('no_training_reason')}"))
    return 0
