"""``--strict``: a verdict from a trusted checker that reads compiled code, never candidate output.

For a candidate the fast gate calls ``proved``:

1. the reference statement (header + statement + ``sorry``) is compiled once per problem to its own
   ``.olean`` by a sandboxed ``lean`` process that sees no candidate code, into a directory no
   candidate process can see (kept under the cache directory);
2. the candidate (header + body) is compiled to an ``.olean`` by a fresh sandboxed ``lean`` whose only
   writable place is its own private directory; whatever it prints is ignored;
3. ``bridge-check`` (``lean_project/Bridge/Check.lean``, built by ``bridge setup``) reads that module
   without elaborating a single command, imports the header's modules from the project's search path
   only (the candidate's directory is not on it), replays every constant of the module through the
   kernel, compares the target's type ``Expr`` with the reference's, collects axioms, and prints one
   JSON line. That line and the checker's exit status are the verdict (``strict_rejection``, pure).

Nothing a candidate runs can reach this verifier: ``--strict`` needs the sandbox (``strict_refusal``:
``--strict --no-sandbox`` is refused before anything runs), and under it every Lean process can write
its own private directory only. The checker itself runs from a copy taken when the run starts, into a
directory of ours, hashed (``PinnedChecker``); that hash is part of every cache key, and a cached
``proved`` is never taken under ``--strict`` (it is checked again: the cache file is not ours alone).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal, overload

from bridge.config import BridgeConfig
from bridge.lean import sandbox
from bridge.lean.project import REPO_ROOT, LeanProject, ReplLaunch
from bridge.lean.sandbox_config import extra_sandbox_paths, sandbox_limits
from bridge.verify.candidate import Candidate, signature
from bridge.verify.soundness import DEFAULT_AXIOMS, NATIVE_AXIOMS, Rejection

MODULE = "BridgeCandidate"
REFERENCE = "BridgeReference"
CHECKER = "bridge-check"
STAGES = ("args", "read", "import", "replay", "reference", "target", "axioms", "done")
# F2: Lean.Replay (v4.9.0) panics with `find!`/`unreachable!` and goes on with a default value unless this
# is set (then the runtime aborts: no JSON line, exit status 134, a failure here); the checker refuses to
# start without it
CHECKER_ENV = {"LEAN_ABORT_ON_PANIC": "1"}
NEEDS_SANDBOX = ("--strict cannot run with --no-sandbox: candidate code run outside the sandbox can rewrite "
                 "the checker (.lake/build/bin/bridge-check) and the result cache (results.sqlite); drop "
                 "--no-sandbox (install bubblewrap) or drop --strict")


def strict_refusal(strict: bool, sandbox: bool) -> str | None:
    """Why this combination of flags is refused (one line), or None. Pure."""
    return NEEDS_SANDBOX if strict and not sandbox else None


def checker_binary(project: Path) -> Path | None:
    """``bridge-check`` built in the project, else in this repository's Lake project (same toolchain)."""
    for root in (project, REPO_ROOT):
        p = root / ".lake" / "build" / "bin" / CHECKER
        if p.is_file():
            if root != project and LeanProject(root).toolchain != LeanProject(project).toolchain:
                continue  # a checker built for another Lean cannot read this project's .olean files
            return p
    return None


class PinnedChecker:
    """``bridge-check`` copied (as a plain file, never through a symlink) into a directory of ours when
    the run starts, with the SHA-256 of the bytes copied: later runs of the checker use that copy, and
    the hash goes into every cache key, so a checker changed on disk during or before a run neither runs
    in its place unseen nor shares cache entries with it."""

    def __init__(self, source: Path):
        self.source = source
        self._dir = tempfile.TemporaryDirectory(prefix="bridge-checker-")
        d = Path(self._dir.name)
        d.chmod(0o755)  # as root the sandbox runs the checker as a fresh uid: it must be able to read it
        self.path = d / CHECKER
        digest = copy_regular(source, self.path, hashed=True)
        if digest is None:
            raise OSError(f"{source} is not a regular file")
        self.path.chmod(0o555)
        self.sha256 = digest

    def intact(self) -> bool:
        """The copy still has the bytes it was pinned with (nothing of ours writes it; checked anyway)."""
        return file_sha256(self.path) == self.sha256

    def close(self) -> None:
        self._dir.cleanup()


def file_sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def compile_argv(lean: str, src: Path, olean: Path) -> list[str]:
    """``lean`` compiling ``src`` to ``olean`` with the module name of the file (``-R`` its directory)."""
    return [lean, "-R", str(src.parent), "-o", str(olean), str(src)]


def strict_rejection(rc: int | None, stdout: str, candidate: Candidate, allowed: frozenset[str],
                     native_allowed: bool) -> Rejection | None:
    """The checker's exit status and its one JSON line -> a rejection, or None when proved. Pure."""
    if not candidate.gated():  # F1: nothing was checked, so nothing is proved
        return Rejection("statement", "strict check: the candidate names no theorem to check")
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if len(lines) != 1:
        return Rejection("strict", f"the kernel checker printed {len(lines)} lines, not one JSON line "
                         f"(exit status {rc}): {stdout.strip()[:300]}")
    try:
        result: Any = json.loads(lines[0])
    except json.JSONDecodeError:
        return Rejection("strict", f"the kernel checker's answer is not JSON: {lines[0][:300]}")
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return Rejection("strict", f"the kernel checker's answer has no `ok`: {lines[0][:300]}")
    stage = result.get("stage")
    error = str(result.get("error") or "")[:400]
    if rc not in (0, 1) or (rc == 0) != result["ok"]:
        return Rejection("strict", f"the kernel checker failed (exit status {rc}, stage {stage}): {error}")
    if not result["ok"]:
        if stage == "replay":
            if "reduceBool" in error or "ofReduceBool" in error:
                return Rejection("strict_native", "the kernel replay failed, and a replay cannot run the compiled "
                                 f"code `native_decide` relies on: {error}")
            return Rejection("kernel", f"the kernel replay rejected the module: {error}")
        if stage == "axioms":
            if "sorryAx" in error:
                return Rejection("sorry", f"strict check: {error}")
            return Rejection("axioms", f"strict check: {error}")
        if stage in ("reference", "target"):
            return Rejection("statement", f"strict check: {error or 'the target does not match the reference'}")
        return Rejection("strict", f"the kernel checker stopped at stage {stage}: {error}")
    targets = result.get("targets")
    if not isinstance(targets, list) or not targets:
        return Rejection("strict", "the kernel checker's answer has no targets")
    by_name = {t.get("name"): t for t in targets if isinstance(t, dict)}
    for name in candidate.gated():
        t = by_name.get(name)
        if t is None:
            return Rejection("statement", f"strict check: `{name}` is not in the compiled module")
        if candidate.statement and t.get("type_matches") is not True:
            return Rejection("statement", f"strict check: the type of `{name}` differs from the reference statement")
        axioms = t.get("axioms")
        if not isinstance(axioms, list):
            return Rejection("strict", f"strict check: no axioms listed for `{name}`")
        if "sorryAx" in axioms:
            return Rejection("sorry", f"strict check: `{name}` depends on `sorryAx`")
        bad = [a for a in axioms if a not in allowed]
        if bad:
            return Rejection("axioms", f"strict check: `{name}` depends on {', '.join(map(str, bad))}")
    return None


@overload
def copy_regular(src: Path, dst: Path, limit: int = ..., *, hashed: Literal[False] = ...) -> bool: ...
@overload
def copy_regular(src: Path, dst: Path, limit: int = ..., *, hashed: Literal[True]) -> str | None: ...
def copy_regular(src: Path, dst: Path, limit: int = 1 << 30, *, hashed: bool = False) -> bool | str | None:
    """Copy ``src`` to ``dst`` only if it is a regular file (opened without following a symlink).
    ``hashed``: return the SHA-256 of the bytes copied (None when nothing was copied) instead of a bool."""
    h = hashlib.sha256()
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None if hashed else False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None if hashed else False
        with open(dst, "wb") as out:
            while chunk := os.read(fd, 1 << 20):
                out.write(chunk)
                h.update(chunk)
        return h.hexdigest() if hashed else True
    finally:
        os.close(fd)


class StrictChecker:
    """The strict check of one candidate at a time. Without the sandbox it is unavailable
    (``NEEDS_SANDBOX``), and :class:`~bridge.verify.api.Verifier` refuses ``--strict --no-sandbox``
    outright. ``allow_unsandboxed``: only for the tests that log the stand-in tools' command lines (a
    sandboxed tool cannot write that log); nothing in bridge passes it."""

    def __init__(self, cfg: BridgeConfig, launch: ReplLaunch, *, allow_unsandboxed: bool = False):
        self.cfg = cfg
        self.allow_unsandboxed = allow_unsandboxed
        self.project = launch.cwd
        self._env: dict[str, str] | None = None
        self._refs = Path(cfg.cache_dir) / "strict" / "references"
        self.pinned: PinnedChecker | None = None
        self._pin_lock = threading.Lock()

    def pin(self) -> PinnedChecker | None:
        """The checker copy this run uses, taken on first use (see :class:`PinnedChecker`)."""
        with self._pin_lock:
            if self.pinned is None:
                src = checker_binary(self.project)
                if src is not None:
                    try:
                        self.pinned = PinnedChecker(src)
                    except OSError:
                        return None
            return self.pinned

    @property
    def checker_hash(self) -> str:
        p = self.pin()
        return p.sha256 if p is not None else ""

    def close(self) -> None:
        if self.pinned is not None:
            self.pinned.close()

    def lake_env(self) -> dict[str, str]:
        """The project's Lean environment (read once from ``lake env``), or ours if Lake cannot tell."""
        if self._env is None:
            self._env = LeanProject(self.project).lake_environment() or dict(os.environ)
        return self._env

    def lean(self) -> str | None:
        return shutil.which("lean", path=self.lake_env().get("PATH"))

    def available(self) -> tuple[bool, str]:
        if not self.cfg.sandbox and not self.allow_unsandboxed:
            return False, NEEDS_SANDBOX
        if shutil.which("lake") is None:
            return False, "no `lake` on PATH"
        if self.lean() is None:
            return False, "no `lean` in the project's environment"
        b = checker_binary(self.project)
        if b is None:
            return False, f"`{CHECKER}` is not built (run `bridge setup`)"
        p = self.pin()
        if p is None:
            return False, f"`{b}` could not be copied as a regular file"
        return True, f"{b} (sha256 {p.sha256[:16]})"

    def _run(self, argv: list[str], writable: Path, readonly: list[Path], env: dict[str, str]
             ) -> subprocess.CompletedProcess[str]:
        if self.cfg.sandbox:
            argv = sandbox.wrap(argv, writable, readonly=[*sandbox.lean_readonly_paths(self.project, argv, env=env),
                                                          *readonly, *extra_sandbox_paths(self.cfg)],
                                cwd=writable, env=env, limits=sandbox_limits(self.cfg))
        return subprocess.run(argv, cwd=writable, env=env, capture_output=True, text=True,
                              timeout=self.cfg.timeout, errors="replace", start_new_session=True)

    def reference(self, c: Candidate) -> Path | Rejection:
        """The reference statement's compiled module, made once per (toolchain, header, statement)."""
        lean = self.lean()
        assert lean is not None
        text = c.header.rstrip("\n") + "\n\n" + signature(c.statement) + " sorry\n"
        key = hashlib.sha256("\x00".join([lean, LeanProject(self.project).manifest_hash(), text]).encode()).hexdigest()
        out = self._refs / key / f"{REFERENCE}.olean"
        if out.is_file():
            return out
        with tempfile.TemporaryDirectory(prefix="bridge-ref-") as d:
            tmp = Path(d)
            src = tmp / f"{REFERENCE}.lean"
            src.write_text(text, encoding="utf-8")
            try:
                r = self._run(compile_argv(lean, src, tmp / f"{REFERENCE}.olean"), tmp, [], self.lake_env())
            except subprocess.TimeoutExpired:
                return Rejection("strict", "compiling the reference statement timed out")
            if r.returncode != 0:
                return Rejection("statement", "the reference statement does not compile: "
                                 + (r.stdout + r.stderr).strip()[:400])
            out.parent.mkdir(parents=True, exist_ok=True)
            # F3: a temporary name of its own (several checks may compile the same reference at once),
            # then an atomic rename: a reader sees no file or a whole one
            fd, part = tempfile.mkstemp(dir=out.parent, prefix=f".{REFERENCE}-", suffix=".part")
            os.close(fd)
            try:
                if not copy_regular(tmp / f"{REFERENCE}.olean", Path(part)):
                    return Rejection("statement", "the reference statement's .olean is missing or not a plain file")
                os.chmod(part, 0o644)  # mkstemp makes it 0600: the sandboxed checker (a fresh uid as root) reads it
                os.replace(part, out)
            finally:
                if os.path.exists(part):
                    os.unlink(part)
        return out

    def check(self, c: Candidate) -> Rejection | None:
        ok, why = self.available()
        if not ok:
            return Rejection("strict", f"--strict was asked for but the kernel checker is unavailable: {why}")
        if not c.gated():  # F1: no theorem to check is no proof
            return Rejection("statement", "strict check: the candidate names no theorem to check")
        pinned = self.pin()
        lean = self.lean()
        assert pinned is not None and lean is not None
        if not pinned.intact():
            return Rejection("strict", f"the pinned copy of {CHECKER} changed since the run started")
        checker = pinned.path
        ref: Path | None = None
        if c.statement:
            got = self.reference(c)
            if isinstance(got, Rejection):
                return got
            ref = got
        env = self.lake_env()
        allowed = DEFAULT_AXIOMS | (NATIVE_AXIOMS if self.cfg.allow_native_decide else frozenset())
        with tempfile.TemporaryDirectory(prefix="bridge-strict-") as d1, \
                tempfile.TemporaryDirectory(prefix="bridge-check-") as d2:
            build, check = Path(d1), Path(d2)
            src = build / f"{MODULE}.lean"
            src.write_text(c.header.rstrip("\n") + "\n\n" + c.body + "\n", encoding="utf-8")
            try:
                r = self._run(compile_argv(lean, src, build / f"{MODULE}.olean"), build, [], env)
            except subprocess.TimeoutExpired:
                return Rejection("strict", "the strict rebuild timed out")
            # the compiling process has exited (and its sandbox with it): copy what it wrote, by name and
            # only if it is a plain file (a symlink planted there must not make us copy another file),
            # into a directory it never saw; nothing else of its directory is read
            if r.returncode != 0 or not copy_regular(build / f"{MODULE}.olean", check / f"{MODULE}.olean"):
                return Rejection("strict", "the strict rebuild failed: " + (r.stdout + r.stderr).strip()[:500])
            argv = [str(checker), "--olean", str(check / f"{MODULE}.olean")]
            if ref is not None:
                argv += ["--reference", str(ref)]
            for name in c.gated():
                argv += ["--target", name]
            for ax in sorted(allowed):
                argv += ["--allow-axiom", ax]
            readonly = [check, *([ref.parent] if ref is not None else []), checker]
            try:
                r = self._run(argv, check, readonly, {**env, **CHECKER_ENV})
            except subprocess.TimeoutExpired:
                return Rejection("strict", "the kernel check timed out")
        return strict_rejection(r.returncode, r.stdout, c, allowed, self.cfg.allow_native_decide)
