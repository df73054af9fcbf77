"""``bridge doctor``: what this machine has, and whether verification can run."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridge.cli.common import add_config_flags, config_from_args, table
from bridge.config import BridgeConfig
from bridge.lean.project import REPO_ROOT, find_project
from bridge.lean.sandbox import sandbox_available

# distribution -> the extra that brings it ("core" ones come with `pip install -e .`)
PACKAGES = [
    ("pexpect", "core"), ("jinja2", "core"), ("networkx", "core"), ("sympy", "core"), ("datasets", "core"),
    ("tqdm", "core"), ("matplotlib", "core"),
    ("torch", "ml"), ("transformers", "ml"), ("peft", "ml"), ("trl", "ml"), ("accelerate", "ml"),
    ("vllm", "vllm"), ("lean-dojo", "dojo"),
]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="report what this machine has; exit 0 when verification can run",
        description="One table of Python and each dependency, Lean, Lake, the REPL, Mathlib, the sandbox, "
        "the strict checker, the data directory and GPUs. Exit status 0 when verification can run, "
        "1 with the missing pieces listed otherwise.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--soundness", action="store_true",
                   help="run the adversarial corpus through the real gate on this installation (needs Lean)")
    add_config_flags(p)
    p.set_defaults(func=run)


def _version(argv: list[str]) -> str | None:
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"error: {e}"
    out = (r.stdout or r.stderr).strip().splitlines()
    return out[0] if out else f"exit {r.returncode}"


def _gpus() -> str:
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            r = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
            lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
            if lines:
                return f"{len(lines)}: " + "; ".join(lines)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "none found"


def collect(cfg: BridgeConfig) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    missing: list[str] = []

    def add(name: str, value: str | None, ok: bool, note: str = "", required: bool = False) -> None:
        rows.append({"item": name, "value": value or "missing", "ok": ok, "note": note})
        if required and not ok:
            missing.append(f"{name}: {note}" if note else name)

    add("python", f"{platform.python_version()} ({sys.executable})", True)
    for dist, extra in PACKAGES:
        try:
            add(dist, md.version(dist), True, extra)
        except md.PackageNotFoundError:
            note = "core dependency: reinstall bridge" if extra == "core" else f'pip install -e ".[{extra}]"'
            add(dist, None, False, note, required=extra == "core")
    lean = _version(["lean", "--version"])
    lake = _version(["lake", "--version"])
    elan = _version(["elan", "--version"])
    add("elan", elan, elan is not None, "" if elan else "install elan, then `bridge setup`")
    add("lean", lean, lean is not None, "" if lean else "needed unless --repl-cmd is set")
    add("lake", lake, lake is not None, "" if lake else "needed unless --repl-cmd is set")
    project = None
    try:
        project = find_project(cfg)
        add("lean project", f"{project.path} ({project.toolchain or 'no lean-toolchain'})", True)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        add("lean project", None, False, str(e), required=True)
    if cfg.repl_cmd:
        import shlex

        argv = shlex.split(cfg.repl_cmd)
        exe = shutil.which(argv[0]) if argv else None
        add("repl", cfg.repl_cmd, exe is not None, "from --repl-cmd/BRIDGE_REPL_CMD"
            + ("" if exe else f": {argv[0] if argv else '(empty)'} not found"), required=True)
    else:
        binary = project.repl_binary() if project else None
        add("repl", str(binary) if binary else None, binary is not None and lake is not None,
            "" if binary else "run `bridge setup` (or give --repl-cmd)", required=True)
        built = project.mathlib_built() if project else False
        add("mathlib", "built" if built else "not built", built, "" if built else "run `bridge setup`",
            required=True)
    sb_ok, sb_why = sandbox_available()
    add("sandbox", "active" if sb_ok and cfg.sandbox else ("off (--no-sandbox)" if sb_ok else "unavailable"),
        sb_ok or not cfg.sandbox, sb_why, required=cfg.sandbox)
    if project is not None:
        from bridge.verify.strict import checker_binary

        chk = checker_binary(project.path)
        add("strict checker", str(chk) if chk else None, chk is not None,
            "--strict available" if chk else "run `bridge setup` to build lean4checker", required=cfg.strict)
    dd = cfg.data_dir
    add("data dir", str(dd) if dd else "(not set)", dd is None or Path(dd).is_dir(),
        "" if dd is None or Path(dd).is_dir() else "does not exist")
    add("cache dir", str(cfg.cache_dir), True)
    add("gpus", _gpus(), True)
    return {"ok": not missing, "missing": missing, "checks": rows}


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    report = collect(cfg)
    if args.soundness:
        report["soundness"] = soundness_table(cfg) if report["ok"] else "skipped: verification cannot run here"
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table([[r["item"], r["value"], "ok" if r["ok"] else "MISSING", r["note"]] for r in report["checks"]],
                    ["item", "value", "status", "note"]))
        if isinstance(report.get("soundness"), list):
            print()
            print(table([[r["id"], r["expect"], r["got"], "ok" if r["ok"] else "WRONG"] for r in report["soundness"]],
                        ["case", "expected", "got", ""]))
        elif "soundness" in report:
            print("\nsoundness:", report["soundness"])
        print()
        if report["ok"]:
            print("verification can run.")
        else:
            print("verification cannot run; missing:\n  - " + "\n  - ".join(report["missing"]))
    sound_ok = not isinstance(report.get("soundness"), list) or all(r["ok"] for r in report["soundness"])
    return 0 if report["ok"] and sound_ok else 1


def soundness_table(cfg: BridgeConfig) -> list[dict[str, Any]]:
    """Every case of the adversarial corpus through the real gate: cheats rejected, honest proofs proved."""
    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    corpus = REPO_ROOT / "tests" / "corpus"
    cases = []
    for f in ("cheats.jsonl", "honest.jsonl"):
        for line in (corpus / f).read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    # cases marked lean=false stand for REPL answers only a fake gives (they drive the Lean-side rules in tests)
    cases = [c for c in cases if c.get("lean", True)]
    cands = [from_parts(c["id"], c.get("header"), c["formal_statement"], c["proof"], helpers=c.get("helpers", ""))
             for c in cases]
    import dataclasses

    with Verifier(dataclasses.replace(cfg, use_cache=False)) as v:
        got = {x.id: x for x in v.verify(cands)}
    out = []
    for c in cases:
        g = got[c["id"]]
        ok = g.verdict == "proved" if c["expect"] == "proved" else g.verdict != "proved"
        out.append({"id": c["id"], "expect": c["expect"], "got": g.verdict + (f" ({g.rule})" if g.rule else ""), "ok": ok})
    return out
