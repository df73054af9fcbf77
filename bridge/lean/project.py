"""Finding a Lake project, its Lean version and manifest hash, and the command that starts its REPL."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bridge.config import BridgeConfig
from bridge.errors import SetupError
from bridge.lean import flush_backport

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LeanProject:
    path: Path

    @property
    def toolchain(self) -> str | None:
        f = self.path / "lean-toolchain"
        return f.read_text(encoding="utf-8").strip() if f.is_file() else None

    @property
    def lean_version(self) -> str | None:
        """``v4.9.0`` from ``leanprover/lean4:v4.9.0``."""
        tc = self.toolchain
        return tc.rsplit(":", 1)[-1] if tc else None

    def manifest_hash(self) -> str:
        """sha256 of ``lake-manifest.json``: which Mathlib (and REPL) revisions a verdict was made with."""
        f = self.path / "lake-manifest.json"
        return hashlib.sha256(f.read_bytes()).hexdigest()[:16] if f.is_file() else "no-manifest"

    def repl_binary(self) -> Path | None:
        for cand in (
            self.path / ".lake" / "packages" / "REPL" / ".lake" / "build" / "bin" / "repl",
            self.path / ".lake" / "packages" / "repl" / ".lake" / "build" / "bin" / "repl",
            self.path / ".lake" / "build" / "bin" / "repl",
        ):
            if cand.is_file():
                return cand
        return None

    def lean4checker_binary(self) -> Path | None:
        p = self.path / ".lake" / "packages" / "lean4checker" / ".lake" / "build" / "bin" / "lean4checker"
        return p if p.is_file() else None

    def checker_binary(self) -> Path | None:
        """``bridge-check``, the trusted kernel checker of ``--strict`` (lean_project/Bridge/Check.lean)."""
        p = self.path / ".lake" / "build" / "bin" / "bridge-check"
        return p if p.is_file() else None

    def mathlib_built(self) -> bool:
        pkg = self.path / ".lake" / "packages" / "mathlib" / ".lake" / "build" / "lib"
        return (pkg / "Mathlib.olean").is_file() or any(pkg.glob("**/Mathlib.olean")) if pkg.is_dir() else False

    def repl_argv(self) -> list[str]:
        """``lake env <repl>`` when the REPL is built (no rebuild check per start), else ``lake exe repl``."""
        lake = shutil.which("lake") or "lake"
        binary = self.repl_binary()
        return [lake, "env", str(binary)] if binary else [lake, "exe", "repl"]

    def lake_environment(self) -> dict[str, str] | None:
        """The environment ``lake env`` gives (LEAN_PATH, the toolchain's PATH, ...), read once.

        Workers then run the REPL binary directly with it: no Lake start-up per worker, and no Lake
        inside the sandbox, where the project is read-only and Lake might want to write its config cache.
        None if Lake cannot tell (the caller falls back to ``lake env <repl>``).
        """
        lake = shutil.which("lake")
        if lake is None:
            return None
        try:
            r = subprocess.run([lake, "env", "printenv", "-0"], cwd=self.path, capture_output=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if r.returncode != 0:
            return None
        env = dict(item.split("=", 1) for item in r.stdout.decode("utf-8", "replace").split("\0") if "=" in item)
        return env if "LEAN_PATH" in env else None


def find_project(cfg: BridgeConfig) -> LeanProject:
    """The configured project, else this repository (its ``lakefile.lean``), else an error."""
    if cfg.lean_project is not None:
        p = Path(cfg.lean_project).expanduser().resolve()
        if not (p / "lakefile.lean").is_file() and not (p / "lakefile.toml").is_file():
            raise SetupError(
                f"--lean-project {p} is not a Lake project (no lakefile.lean or lakefile.toml)",
                "point --lean-project at a directory with Mathlib and the REPL, or run `bridge setup`",
            )
        return LeanProject(p)
    return LeanProject(REPO_ROOT)


@dataclass
class ReplLaunch:
    argv: list[str]
    cwd: Path
    lean_version: str
    manifest_hash: str
    env: dict[str, str] | None = None  # the environment to start it with (None: ours)
    transport: str = "pty"  # "pipe" only for a REPL known to flush each answer (bridge/lean/transport.py)


def resolve_transport(cfg: BridgeConfig, project: LeanProject | None) -> str:
    """``auto``: pipes for the project's own REPL when it flushes each answer, a pty for anything else."""
    if cfg.transport != "auto":
        return cfg.transport
    if project is None:
        return "pty"
    return "pipe" if flush_backport.answers_flushed(project.path, project.repl_binary()) else "pty"


def caller_relative(argv: list[str], cwd: Path | None = None) -> list[str]:
    """A --repl-cmd runs in the project directory, but the person wrote its paths from where they are:
    each relative argument that looks like a path (a slash, or a suffix: ``repl.py``) and exists from
    ``cwd`` (the caller's directory) becomes absolute. Bare words (``python``, ``env``, ``repl``) are left
    to PATH, as a shell leaves them."""
    here = Path.cwd() if cwd is None else cwd
    out = []
    for i, a in enumerate(argv):
        p = Path(a)
        # a path, not a word: it has a slash, or a file name's suffix (`repl.py`); never `lake`, `env`, `repl`
        pathlike = "/" in a or (i > 0 and bool(p.suffix))
        if pathlike and not a.startswith("-") and "=" not in a.split("/")[0] and not p.is_absolute() \
                and (here / p).exists():
            a = str((here / p).resolve())
        out.append(a)
    return out


def repl_launch(cfg: BridgeConfig) -> ReplLaunch:
    """How to start a REPL: ``repl_cmd`` (split as a shell would) run in the project dir, or the project's."""
    project = find_project(cfg)
    version = cfg.lean_version or project.lean_version or "unknown"
    if cfg.repl_cmd:
        argv = shlex.split(cfg.repl_cmd)
        if not argv:
            raise SetupError("the REPL command is empty", "set --repl-cmd / BRIDGE_REPL_CMD to a command")
        return ReplLaunch(caller_relative(argv), project.path, version, project.manifest_hash(),
                          transport=resolve_transport(cfg, None))  # a command of unknown output: a pty
    if shutil.which("lake") is None:
        raise SetupError(
            "no `lake` on PATH, so no Lean REPL can be started",
            "install elan (curl https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -sSf "
            "| sh) and run `bridge setup`, or give --repl-cmd",
        )
    binary = project.repl_binary()
    env = project.lake_environment() if binary else None
    transport = resolve_transport(cfg, project)
    if binary and env is not None:
        return ReplLaunch([str(binary)], project.path, version, project.manifest_hash(), env, transport)
    return ReplLaunch(project.repl_argv(), project.path, version, project.manifest_hash(), transport=transport)
