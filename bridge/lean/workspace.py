"""Making a Lean workspace ready: the pinned toolchain, Mathlib's build cache, the REPL, the checker.

Each step says how to tell it is already done, so ``bridge setup`` is idempotent, and streams the
tool's output (with a heartbeat line while a tool is quiet) so it never sits silent.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import SetupError
from bridge.lean.project import LeanProject

ELAN_INSTALL = "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh -s -- -y"

LAKEFILE_TEMPLATE = """import Lake
open Lake DSL

-- Written by `bridge setup --lean {version}`: Mathlib, the REPL and lean4checker at that version's tags.
package bridge_workspace

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "{version}"

require REPL from git
  "https://github.com/leanprover-community/repl" @ "{version}"

require lean4checker from git
  "https://github.com/leanprover/lean4checker" @ "{version}"
"""


@dataclass
class Step:
    name: str
    argv: list[str]
    done: Callable[[], bool]
    hint: str


def write_workspace(path: Path, version: str) -> LeanProject:
    """A Lake project for another Lean version (e.g. v4.15.0 for Kimina-Prover) under the cache dir."""
    if not version.startswith("v"):
        version = "v" + version
    path.mkdir(parents=True, exist_ok=True)
    tc = path / "lean-toolchain"
    want = f"leanprover/lean4:{version}\n"
    if not tc.is_file() or tc.read_text() != want:
        tc.write_text(want)
    lf = path / "lakefile.lean"
    text = LAKEFILE_TEMPLATE.format(version=version)
    if not lf.is_file() or lf.read_text() != text:
        lf.write_text(text)
    return LeanProject(path)


def toolchain_installed(elan: str, toolchain: str) -> bool:
    try:
        r = subprocess.run([elan, "toolchain", "list"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    short = toolchain.split(":")[-1]
    return any(short in line for line in r.stdout.splitlines())


def plan(project: LeanProject) -> list[Step]:
    elan = shutil.which("elan")
    if elan is None:
        raise SetupError("elan (the Lean toolchain manager) is not installed",
                         f"install it with `{ELAN_INSTALL}`, open a new shell, then run `bridge setup` again")
    lake = shutil.which("lake") or str(Path(elan).parent / "lake")
    tc = project.toolchain
    if not tc:
        raise SetupError(f"{project.path} has no lean-toolchain file", "add one, e.g. `leanprover/lean4:v4.9.0`")
    return [
        Step("toolchain", [elan, "toolchain", "install", tc], lambda: toolchain_installed(elan, tc),
             "check your network connection, or install the toolchain by hand with elan"),
        Step("mathlib cache", [lake, "exe", "cache", "get"], project.mathlib_built,
             "the Mathlib build cache could not be fetched; `lake build` builds Mathlib from source (hours)"),
        Step("repl", [lake, "build", "repl"], lambda: project.repl_binary() is not None,
             "the REPL did not build; check its tag matches lean-toolchain in lakefile.lean"),
        Step("lean4checker", [lake, "build", "lean4checker"], lambda: project.lean4checker_binary() is not None,
             "lean4checker did not build; --strict stays unavailable, plain verification still works"),
    ]


def run_step(step: Step, cwd: Path, log: Callable[[str], None], quiet_after: float = 5.0) -> None:
    log(f"[{step.name}] $ {' '.join(step.argv)}")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(step.argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", bufsize=1)
    except OSError as e:
        raise SetupError(f"step '{step.name}' could not start: {e}", step.hint) from None
    last = [time.monotonic()]
    tail: list[str] = []
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(1.0):
            if time.monotonic() - last[0] >= quiet_after:
                log(f"[{step.name}] still working ({time.monotonic() - t0:.0f}s)")
                last[0] = time.monotonic()

    threading.Thread(target=heartbeat, daemon=True).start()
    assert proc.stdout is not None
    for line in proc.stdout:
        last[0] = time.monotonic()
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        log(f"[{step.name}] {line}")
    rc = proc.wait()
    stop.set()
    if rc != 0:
        raise SetupError(f"step '{step.name}' failed (exit {rc}):\n    " + "\n    ".join(tail[-8:]), step.hint)
    log(f"[{step.name}] done in {time.monotonic() - t0:.0f}s")


def setup(project: LeanProject, log: Callable[[str], None]) -> list[str]:
    """Run every step not yet done; the names of the steps run."""
    ran = []
    for step in plan(project):
        if step.done():
            log(f"[{step.name}] already done")
            continue
        run_step(step, project.path, log)
        ran.append(step.name)
    return ran
