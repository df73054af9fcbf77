"""``bridge doctor``: what this machine has, and whether verification can run."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bridge.cli.common import add_config_flags, config_from_args, table
from bridge.config import BridgeConfig
from bridge.lean.procs import first_line
from bridge.lean.project import REPO_ROOT, find_project
from bridge.lean.sandbox import explain_failure, sandbox_available
from bridge.lean.sandbox import protections as sandbox_protections

# distribution -> the extra that brings it ("core" ones come with `pip install -e .`)
PACKAGES = [
    ("pexpect", "core"), ("jinja2", "core"), ("networkx", "core"), ("sympy", "core"), ("datasets", "core"),
    ("tqdm", "core"), ("matplotlib", "core"),
    ("torch", "ml"), ("transformers", "ml"), ("peft", "ml"), ("trl", "ml"), ("accelerate", "ml"),
    ("vllm", "vllm"), ("lean-dojo", "dojo"), ("ray", "ray"),
]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="report what this machine has; exit 0 when verification can run",
        description="One table of Python and each dependency, Lean, Lake, the REPL, Mathlib, the sandbox "
        "and each of its protections, the strict checker, the data directory and GPUs; then it starts the "
        "REPL once (sandboxed when the sandbox is on) and elaborates a probe. With --ray ADDRESS, a second "
        "table: each node of that Ray cluster, its CPUs, whether it has the toolchain, this Lean project "
        "and bubblewrap, and why a node without them is not used. Exit status 0 when verification can "
        "run (on the cluster: on at least one node), 1 with the missing pieces listed otherwise.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--soundness", action="store_true",
                   help="run the adversarial corpus through the real gate on this installation (needs Lean)")
    add_config_flags(p)
    p.set_defaults(func=run)


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
    project = None
    project_error = ""
    try:
        project = find_project(cfg)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        project_error = str(e)
    # elan picks the toolchain from the directory's lean-toolchain: ask in the project's directory
    where = project.path if project is not None else None
    lean = first_line(["lean", "--version"], cwd=where)
    lake = first_line(["lake", "--version"], cwd=where)
    elan = first_line(["elan", "--version"])
    add("elan", elan, elan is not None, "" if elan else "install elan, then `bridge setup`")
    want = project.lean_version if project is not None else None
    lean_ok, lean_note = lean_matches(lean, want)
    add("lean", lean, lean is not None and (lean_ok or bool(cfg.repl_cmd)),
        lean_note if lean else "needed unless --repl-cmd is set", required=lean is not None and not cfg.repl_cmd)
    add("lake", lake, lake is not None, "" if lake else "needed unless --repl-cmd is set")
    if project is not None:
        add("lean project", f"{project.path} ({project.toolchain or 'no lean-toolchain'})", True)
    else:
        add("lean project", None, False, project_error, required=True)
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
    if cfg.sandbox:
        from bridge.lean.sandbox_config import sandbox_limits

        for name, on, note in sandbox_protections(sandbox_limits(cfg)):
            add(f"  {name}", "on" if on else "OFF", on, note)
    if project is not None:
        from bridge.verify.strict import checker_binary

        chk = checker_binary(project.path)
        add("strict checker", str(chk) if chk else None, chk is not None,
            "--strict available (bridge-check)" if chk else "run `bridge setup` to build bridge-check",
            required=cfg.strict)
        l4c = project.lean4checker_binary()
        add("lean4checker", str(l4c) if l4c else None, True, "" if l4c else "optional; `bridge setup` builds it")
    dd = cfg.data_dir
    add("data dir", str(dd) if dd else "(not set)", dd is None or Path(dd).is_dir(),
        "" if dd is None or Path(dd).is_dir() else "does not exist")
    add("cache dir", str(cfg.cache_dir), True)
    add("gpus", _gpus(), True)
    if not missing:  # everything is there: start the REPL once, as verification would, and ask it something
        ok, note = repl_probe(cfg)
        add("repl probe", note if ok else "failed", ok, "" if ok else note, required=True)
    return {"ok": not missing, "missing": missing, "checks": rows}


def lean_matches(printed: str | None, want: str | None) -> tuple[bool, str]:
    """Whether `lean --version` (`Lean (version 4.9.0, ...)`) is exactly the project's pin (v4.9.0-rc1 is not)."""
    if printed is None or want is None:
        return printed is not None, ""
    m = re.search(r"version ([0-9][^,\s)]*)", printed)
    got = "v" + m.group(1) if m else None
    if got == want:
        return True, ""
    return False, (f"the project pins {want}, but `lean` there is {got or printed!r}: run `bridge setup` "
                   "(elan installs the exact toolchain)")


def repl_probe(cfg: BridgeConfig) -> tuple[bool, str]:
    """Start the REPL exactly as verification does (under the sandbox when it is on) and elaborate a probe."""
    import time

    from bridge.errors import BridgeError
    from bridge.lean.header import HEADER_PROBE, START_PROBE
    from bridge.lean.protocol import Command, CommandResponse
    from bridge.lean.repl import ReplFault
    from bridge.scale import make_verifier

    try:
        with make_verifier(cfg) as v:
            repl = v._repl()
            t0 = time.monotonic()
            try:
                repl.start()
                first = repl.send(Command(cmd=START_PROBE), cfg.header_timeout)
                if not isinstance(first, CommandResponse) or first.errors:
                    return False, f"the REPL did not elaborate `{START_PROBE}`: {first.to_json()}"[:400]
                second = repl.send(Command(cmd=HEADER_PROBE, env=first.env), cfg.header_timeout)
                if not isinstance(second, CommandResponse) or second.errors:
                    return False, f"the REPL could not `{HEADER_PROBE}`: {second.to_json()}"[:400]
            except ReplFault as f:
                why = f.detail + (f" ({f.evidence})" if f.evidence else "")
                sb = explain_failure(f.evidence, None) if v.sandboxed else None
                # the cause first; the command (inside the sandbox, a long bwrap line) after it
                return False, f"{sb or why}; command: `{repl.command_line()[:200]}`"[:600]
            finally:
                repl.kill()
            where = "sandboxed" if v.sandboxed else "unsandboxed"
            return True, f"answered in {time.monotonic() - t0:.1f}s ({where}, transport {repl.transport_kind})"
    except BridgeError as e:
        return False, str(e)[:600]


def ray_cluster(cfg: BridgeConfig, report: dict[str, Any]) -> None:
    """``--ray ADDRESS``: every node of the cluster (bridge.scale.nodes), added to the report."""
    from bridge.errors import BridgeError
    from bridge.scale.nodes import cluster_report

    try:
        cluster = cluster_report(cfg, cfg.ray)
    except BridgeError as e:
        report["ray"] = {"address": cfg.ray, "ok": False, "error": str(e), "nodes": []}
        report["ok"] = False
        report["missing"].append(f"ray cluster {cfg.ray}: {e.message}")
        return
    report["ray"] = cluster.as_json()
    report["ray_rows"] = cluster.rows()
    if not cluster.ok:
        report["ok"] = False
        report["missing"].append(f"ray cluster {cfg.ray}: no node can check candidates (see the node table)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    report = collect(cfg)
    if cfg.ray is not None:
        ray_cluster(cfg, report)
    rows = report.pop("ray_rows", None)
    if args.soundness:
        report["soundness"] = soundness_table(cfg) if report["ok"] else "skipped: verification cannot run here"
    wrong = [r["id"] for r in report["soundness"] if not r["ok"]] if isinstance(report.get("soundness"), list) else []
    if args.soundness:
        report["trustworthy"] = bool(report["ok"] and isinstance(report["soundness"], list) and not wrong)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(table([[r["item"], r["value"], "ok" if r["ok"] else "MISSING", r["note"]] for r in report["checks"]],
                    ["item", "value", "status", "note"]))
        if "ray" in report:
            from bridge.scale.nodes import HEADERS

            print(f"\nRay cluster {report['ray']['address']}: "
                  + (report["ray"].get("error") or f"{report['ray']['usable_cpus']} usable CPU(s)"))
            if rows:
                print(table(rows, HEADERS))
        if isinstance(report.get("soundness"), list):
            print()
            print(table([[r["id"], r["expect"], r["got"], "ok" if r["ok"] else "WRONG"] for r in report["soundness"]],
                        ["case", "expected", "got", ""]))
        elif "soundness" in report:
            print("\nsoundness:", report["soundness"])
        print()
        if report["ok"] and wrong:
            # the last word: a gate that decides a corpus case wrongly cannot be trusted, whatever runs
            print(f"verification is not trustworthy here: {len(wrong)} case(s) of the soundness corpus were "
                  f"decided WRONG ({', '.join(wrong[:8])}{', ...' if len(wrong) > 8 else ''}); do not use its "
                  "verdicts until `bridge doctor --soundness` shows none (with real Lean: `bridge setup`)")
        elif report["ok"]:
            print("verification can run.")
        else:
            print("verification cannot run; missing:\n  - " + "\n  - ".join(report["missing"]))
    return 0 if report["ok"] and not wrong else 1


def soundness_table(cfg: BridgeConfig) -> list[dict[str, Any]]:
    """Every case of the adversarial corpus through the real gate: cheats rejected, honest proofs proved."""
    from bridge.scale import make_verifier
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

    with make_verifier(dataclasses.replace(cfg, use_cache=False)) as v:
        got = {x.id: x for x in v.verify(cands)}
    out = []
    for c in cases:
        g = got[c["id"]]
        ok = g.verdict == "proved" if c["expect"] == "proved" else g.verdict != "proved"
        out.append({"id": c["id"], "expect": c["expect"], "got": g.verdict + (f" ({g.rule})" if g.rule else ""), "ok": ok})
    return out
