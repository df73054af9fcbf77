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
from bridge.lean import flush_backport, versions
from bridge.lean.project import REPO_ROOT, LeanProject

ELAN_INSTALL = "curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf | sh -s -- -y"

LAKEFILE_HEAD = """import Lake
open Lake DSL

-- Written by `bridge setup --lean {version}`: Mathlib, the REPL and lean4checker at the revisions made
-- for that toolchain (bridge/lean/versions.py says where each comes from).
package bridge_workspace

require mathlib from git
  "https://github.com/leanprover-community/mathlib4" @ "{mathlib}"

require REPL from git
  "https://github.com/leanprover-community/repl" @ "{repl}"
"""

LAKEFILE_CHECKER = """
require lean4checker from git
  "https://github.com/leanprover/lean4checker" @ "{lean4checker}"
"""

# bridge-check is written against Lean v4.9.0's API; on another toolchain it may not build, and then
# `--strict` is unavailable there (the setup step says so and carries on).
LAKEFILE_BRIDGE_CHECK = """
lean_exe «bridge-check» where
  srcDir := "bridge_check"
  root := `Bridge.Check
  supportInterpreter := true
"""


@dataclass
class Step:
    name: str
    argv: list[str]
    done: Callable[[], bool]
    hint: str
    optional: bool = False  # a failure is reported and setup carries on
    action: Callable[[], str] | None = None  # done in this process instead of running argv; says what it did


def write_workspace(path: Path, version: str) -> LeanProject:
    """A Lake project for another Lean version (e.g. v4.15.0 for Kimina-Prover) under the cache dir.

    An unsupported version is refused before anything is written.
    """
    try:
        pins = versions.pins_for(version)
    except ValueError as e:
        raise SetupError(str(e), "pick one of the supported versions (`bridge setup --help` lists them)") from None
    path.mkdir(parents=True, exist_ok=True)
    tc = path / "lean-toolchain"
    want = f"leanprover/lean4:{pins.version}\n"
    if not tc.is_file() or tc.read_text() != want:
        tc.write_text(want)
    text = LAKEFILE_HEAD.format(version=pins.version, mathlib=pins.mathlib, repl=pins.repl)
    if pins.lean4checker:
        text += LAKEFILE_CHECKER.format(lean4checker=pins.lean4checker)
    check_src = REPO_ROOT / "lean_project" / "Bridge" / "Check.lean"
    if check_src.is_file():
        dest = path / "bridge_check" / "Bridge" / "Check.lean"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_file() or dest.read_bytes() != check_src.read_bytes():
            dest.write_bytes(check_src.read_bytes())
        text += LAKEFILE_BRIDGE_CHECK
    lf = path / "lakefile.lean"
    if not lf.is_file() or lf.read_text() != text:
        lf.write_text(text)
    return LeanProject(path)


def installed_toolchains(listing: str) -> set[str]:
    """Toolchain names from `elan toolchain list` (each line: the name, maybe " (default)")."""
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        if parts:
            names.add(parts[0])
    return names


def toolchain_installed(elan: str, toolchain: str) -> bool:
    """Exactly this toolchain: `leanprover/lean4:v4.9.0-rc1` is not `leanprover/lean4:v4.9.0`."""
    try:
        r = subprocess.run([elan, "toolchain", "list"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    want = toolchain.strip()
    short = want.split(":")[-1]
    got = installed_toolchains(r.stdout)
    return want in got or f"leanprover/lean4:{short}" in got


def _declares(project: LeanProject, name: str) -> bool:
    for f in ("lakefile.lean", "lakefile.toml"):
        p = project.path / f
        if p.is_file() and name in p.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def _backport(project: LeanProject) -> str:
    if not flush_backport.apply(project.path):
        raise SetupError("the REPL's REPL/Main.lean is not tag v4.9.0's, so it was left as it is", "")
    return f"REPL/Main.lean now flushes each answer ({flush_backport.UPSTREAM}, backported)"


def _repl_built(project: LeanProject) -> bool:
    """Built, and not older than its Main.lean (a source patched after the build needs a rebuild)."""
    binary = project.repl_binary()
    return binary is not None and flush_backport.built_after_source(project.path, binary)


def plan(project: LeanProject) -> list[Step]:
    elan = shutil.which("elan")
    if elan is None:
        raise SetupError("elan (the Lean toolchain manager) is not installed",
                         f"install it with `{ELAN_INSTALL}`, open a new shell, then run `bridge setup` again")
    lake = shutil.which("lake") or str(Path(elan).parent / "lake")
    tc = project.toolchain
    if not tc:
        raise SetupError(f"{project.path} has no lean-toolchain file", "add one, e.g. `leanprover/lean4:v4.9.0`")
    steps = [
        Step("toolchain", [elan, "toolchain", "install", tc], lambda: toolchain_installed(elan, tc),
             "check your network connection, or install the toolchain by hand with elan"),
        Step("mathlib cache", [lake, "exe", "cache", "get"], project.mathlib_built,
             "the Mathlib build cache could not be fetched; `lake build` builds Mathlib from source (hours)"),
        # After the cache step (it resolves every dependency, so the REPL's source is there) and before
        # the REPL is built: REPL v4.9.0 gets upstream's flush fix, so its answers come over pipes.
        Step("repl flush", [], lambda: not flush_backport.needs_backport(project.path),
             "the REPL's source could not be patched: answers are read from a pseudo-terminal instead, "
             "which works, a little slower", optional=True, action=lambda: _backport(project)),
        Step("repl", [lake, "build", "repl"], lambda: _repl_built(project),
             "the REPL did not build; check its revision matches lean-toolchain in lakefile.lean"),
    ]
    if _declares(project, "bridge-check"):
        steps.append(Step("bridge-check", [lake, "build", "bridge-check"],
                          lambda: project.checker_binary() is not None,
                          "the kernel checker did not build: --strict stays unavailable, plain verification "
                          "still works", optional=True))
    if _declares(project, "lean4checker"):
        steps.append(Step("lean4checker", [lake, "build", "lean4checker"],
                          lambda: project.lean4checker_binary() is not None,
                          "lean4checker did not build; it is an extra, verification and --strict still work",
                          optional=True))
    return steps


def run_step(step: Step, cwd: Path, log: Callable[[str], None], quiet_after: float = 5.0) -> None:
    if step.action is not None:
        try:
            log(f"[{step.name}] {step.action()}")
        except (OSError, SetupError) as e:
            detail = e.message if isinstance(e, SetupError) else str(e)
            raise SetupError(f"step '{step.name}' failed: {detail}", step.hint) from None
        return
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
        try:
            run_step(step, project.path, log)
        except SetupError as e:
            if not step.optional:
                raise
            log(f"[{step.name}] warning: {e}")
            continue
        ran.append(step.name)
    return ran
