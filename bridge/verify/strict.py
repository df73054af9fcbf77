"""``--strict``: rebuild a proved candidate in a fresh sandboxed Lean process and replay it in the kernel.

The checker is lean4checker, pinned in ``lakefile.lean`` at the toolchain's tag: it re-adds every
declaration of a compiled module to a fresh environment through the kernel, so a proof that only
fooled the elaborator (or a forged REPL answer) fails here. We chose it over SafeVerify and comparator
because it exists for Lean 4.9 (the toolchain most provers are evaluated on) and checks a module with
one command; Lean's own ``leanchecker`` is used instead where the toolchain ships it. The verdict is
read from the checker's exit status and from a separate ``#print axioms`` run that only imports the
compiled module, never from anything the candidate's own elaboration printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bridge.config import BridgeConfig
from bridge.lean import sandbox
from bridge.lean.project import LeanProject, ReplLaunch
from bridge.verify.candidate import Candidate
from bridge.verify.soundness import DEFAULT_AXIOMS, NATIVE_AXIOMS, Rejection

MODULE = "BridgeCandidate"


def checker_binary(project: Path) -> Path | None:
    """lean4checker built in the project, else the toolchain's own `leanchecker` if on PATH."""
    built = LeanProject(project).lean4checker_binary()
    if built is not None:
        return built
    found = shutil.which("leanchecker")
    return Path(found) if found else None


class StrictChecker:
    def __init__(self, cfg: BridgeConfig, launch: ReplLaunch):
        self.cfg = cfg
        self.project = launch.cwd
        self._env: dict[str, str] | None = None

    def available(self) -> tuple[bool, str]:
        if shutil.which("lake") is None:
            return False, "no `lake` on PATH"
        b = checker_binary(self.project)
        return (True, str(b)) if b else (False, "lean4checker is not built (run `bridge setup`)")

    def _run(self, argv: list[str], tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        if self.cfg.sandbox:
            argv = sandbox.wrap(argv, tmp, readonly=sandbox.lean_readonly_paths(self.project, argv), cwd=self.project)
        return subprocess.run(argv, cwd=self.project, env=env, capture_output=True, text=True,
                              timeout=self.cfg.timeout * 2, errors="replace")

    def lake_env(self) -> dict[str, str]:
        """The project's Lean environment (read once from ``lake env``), or ours if Lake cannot tell."""
        if self._env is None:
            self._env = LeanProject(self.project).lake_environment() or dict(os.environ)
        return self._env

    def check(self, c: Candidate) -> Rejection | None:
        ok, why = self.available()
        if not ok:
            return Rejection("strict", f"--strict was asked for but the kernel checker is unavailable: {why}")
        checker = checker_binary(self.project)
        assert checker is not None
        with tempfile.TemporaryDirectory(prefix="bridge-strict-") as d:
            tmp = Path(d)
            src = tmp / f"{MODULE}.lean"
            src.write_text(c.header.rstrip("\n") + "\n\n" + c.body + "\n", encoding="utf-8")
            base = self.lake_env()
            env = dict(base, LEAN_PATH=f"{tmp}:{base.get('LEAN_PATH', '')}")
            lean = shutil.which("lean", path=env.get("PATH")) or "lean"
            try:
                r = self._run([lean, "-o", str(tmp / f"{MODULE}.olean"), str(src)], tmp, env)
                if r.returncode != 0:
                    return Rejection("strict", "the strict rebuild failed: " + (r.stdout + r.stderr).strip()[:500])
                r = self._run([str(checker), MODULE], tmp, env)
                if r.returncode != 0:
                    return Rejection("kernel", "the kernel replay rejected the module: " + (r.stdout + r.stderr).strip()[:500])
                probe = tmp / "BridgeAxioms.lean"
                probe.write_text(f"import {MODULE}\n#print axioms {c.name}\n", encoding="utf-8")
                r = self._run([lean, str(probe)], tmp, env)
            except subprocess.TimeoutExpired:
                return Rejection("strict", "the strict rebuild timed out")
            out = r.stdout
            allowed = DEFAULT_AXIOMS | (NATIVE_AXIOMS if self.cfg.allow_native_decide else frozenset())
            if "does not depend on any axioms" in out:
                return None
            if "depends on axioms:" not in out:
                return Rejection("strict", "the strict axiom check printed no answer: " + out[:300])
            listed = out.split("depends on axioms:", 1)[1].split("]", 1)[0].strip(" [\n")
            bad = [a.strip() for a in listed.split(",") if a.strip() and a.strip() not in allowed]
            if bad:
                return Rejection("axioms", f"strict check: depends on {', '.join(bad)}")
        return None
