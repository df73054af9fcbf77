"""The pinned REPL's flush fix (bridge/lean/flush_backport.py): `bridge setup` backports upstream's
commit 4fc1e6d to REPL v4.9.0's Main.lean, and the verifier reads answers over pipes only from a REPL
built from a source that flushes."""

from __future__ import annotations

import difflib
import os
import sys
import time
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.lean import flush_backport
from bridge.lean.project import LeanProject, resolve_transport
from tests.conftest import FAKE_REPL, ROOT
from tests.test_doctor_setup import _fake_toolchain, base_path, bridge, make_tool

MAIN_V4_9_0 = ROOT / "tests" / "transcripts" / "repl-v4.9.0" / "REPL" / "Main.lean"

# The lines upstream's commit 4fc1e6d ("avoid buffering stdout to ensure immediate replies", PR #49)
# adds and removes in REPL/Main.lean, as `git show 4fc1e6d` prints them.
UPSTREAM_ADDED = [
    "/-- Avoid buffering the output. -/",
    "def printFlush [ToString α] (s : α) : IO Unit := do",
    "  let out ← IO.getStdout",
    "  out.putStr (toString s)",
    "  out.flush -- Flush the output",
    "",
    '  printFlush "\\n" -- easier to parse the output if there are blank lines',
]
UPSTREAM_REMOVED = ['  IO.println "" -- easier to parse the output if there are blank lines']


def test_the_backport_is_upstreams_change_line_for_line() -> None:
    old = MAIN_V4_9_0.read_text(encoding="utf-8")
    assert not flush_backport.flushes(old)
    new = flush_backport.backported(old)
    assert new is not None and flush_backport.flushes(new)
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    added = [d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")]
    removed = [d[1:] for d in diff if d.startswith("-") and not d.startswith("---")]
    assert added == UPSTREAM_ADDED and removed == UPSTREAM_REMOVED
    # printFlush is defined before the loop that calls it
    assert new.index("def printFlush") < new.index("unsafe def repl") < new.index('printFlush "\\n"')


@pytest.mark.parametrize("edit", [lambda t: t + "\n-- a local change\n", lambda t: t.replace("repl", "rep1", 1),
                                  lambda t: ""])
def test_any_other_file_is_left_as_it_is(edit) -> None:
    assert flush_backport.backported(edit(MAIN_V4_9_0.read_text(encoding="utf-8"))) is None


def _project(tmp_path: Path, source: str | None, binary_age: float | None) -> LeanProject:
    """A Lake project with the REPL's source and a binary `binary_age` seconds older than it (<0: newer)."""
    root = tmp_path / "project"
    (root / ".lake" / "packages" / "REPL" / "REPL").mkdir(parents=True)
    (root / "lakefile.lean").write_text("-- stand-in\n")
    (root / "lean-toolchain").write_text("leanprover/lean4:v4.9.0\n")
    src = root / ".lake" / "packages" / "REPL" / "REPL" / "Main.lean"
    if source is not None:
        src.write_text(source, encoding="utf-8")
    if binary_age is not None:
        b = root / ".lake" / "packages" / "REPL" / ".lake" / "build" / "bin" / "repl"
        b.parent.mkdir(parents=True)
        b.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_REPL}\n")
        b.chmod(0o755)
        now = time.time()
        os.utime(src if source is not None else b, (now, now))
        os.utime(b, (now - binary_age, now - binary_age))
    return LeanProject(root)


def test_transport_auto_is_pipes_only_for_a_build_of_a_flushing_source(tmp_path: Path) -> None:
    v49 = MAIN_V4_9_0.read_text(encoding="utf-8")
    patched = flush_backport.backported(v49)
    assert patched is not None
    auto = load_config(overrides={"transport": "auto"}, environ={})
    cases = [
        (patched, -5.0, "pipe"),  # built after the patch
        (patched, 5.0, "pty"),  # patched after the build: the binary is still v4.9.0's
        (v49, -5.0, "pty"),  # v4.9.0 as released
        (None, -5.0, "pty"),  # no source to tell from
        (patched, None, "pty"),  # not built
    ]
    for i, (src, age, want) in enumerate(cases):
        project = _project(tmp_path / str(i), src, age)
        assert resolve_transport(auto, project) == want, (i, want)
    assert resolve_transport(auto, None) == "pty"  # a --repl-cmd: nothing is known about its output
    for forced in ("pty", "pipe"):
        assert resolve_transport(load_config(overrides={"transport": forced}, environ={}), None) == forced


def test_setup_backports_the_flush_then_builds_and_the_verifier_reads_pipes(tmp_path: Path, monkeypatch) -> None:
    """`bridge setup` on a v4.9.0 workspace: the REPL's source is patched after the dependencies arrive and
    before `lake build repl`; a rerun does nothing; the built project is then read over pipes, against a
    stand-in that behaves as the patched REPL (held by C stdio, flushed after each answer)."""
    bindir, log = _fake_toolchain(tmp_path)
    pkg = "packages/REPL"
    make_tool(bindir, "lake", f"""
echo "lake $*" >> {log}
case "$1 $2" in
  "exe cache") mkdir -p .lake/packages/mathlib/.lake/build/lib .lake/{pkg}/REPL && touch .lake/packages/mathlib/.lake/build/lib/Mathlib.olean && cp {MAIN_V4_9_0} .lake/{pkg}/REPL/Main.lean ;;
  "build repl") mkdir -p .lake/{pkg}/.lake/build/bin && grep -q printFlush .lake/{pkg}/REPL/Main.lean && printf '#!/bin/sh\\nFAKE_REPL_PINNED=backport exec {sys.executable} {FAKE_REPL}\\n' > .lake/{pkg}/.lake/build/bin/repl && chmod +x .lake/{pkg}/.lake/build/bin/repl ;;
  "env printenv") printf "LEAN_PATH=/opt/fake/lib/lean\\0PATH=$PATH\\0" ;;
esac
""")
    cache = tmp_path / "cache"
    r = bridge("setup", "--lean", "v4.9.0", "--cache-dir", str(cache), path=base_path(bindir))
    assert r.returncode == 0, r.stderr
    assert "[repl flush] REPL/Main.lean now flushes each answer" in r.stderr
    calls = [c for c in log.read_text().splitlines() if "list" not in c]
    assert calls[:3] == ["elan toolchain install leanprover/lean4:v4.9.0", "lake exe cache get", "lake build repl"]
    ws = cache / "workspaces" / "v4.9.0"
    assert flush_backport.flushes((ws / ".lake" / pkg / "REPL" / "Main.lean").read_text(encoding="utf-8"))
    r2 = bridge("setup", "--lean", "v4.9.0", "--cache-dir", str(cache), path=base_path(bindir))
    assert r2.returncode == 0 and "[repl flush] already done" in r2.stderr and "[repl] already done" in r2.stderr

    from bridge.verify.api import Verifier
    from bridge.verify.candidate import from_parts

    monkeypatch.setenv("PATH", base_path(bindir))
    cfg = load_config(overrides={"lean_project": ws, "cache_dir": tmp_path / "c", "sandbox": False, "workers": 2,
                                 "timeout": 5.0, "header_timeout": 5.0}, environ={})
    with Verifier(cfg) as v:
        assert v.launch.transport == "pipe"
        got = {x.id: x.verdict for x in v.verify(
            [from_parts(f"a{i}", None, "theorem a : True := by\n", f"  trivial -- {i}") for i in range(3)]
            + [from_parts("s", None, "theorem a : True := by\n", "  sorry")])}
    assert got == {"a0": "proved", "a1": "proved", "a2": "proved", "s": "rejected"}


def test_a_repl_patched_after_its_build_is_rebuilt_by_setup(tmp_path: Path) -> None:
    from bridge.lean.workspace import _repl_built

    patched = flush_backport.backported(MAIN_V4_9_0.read_text(encoding="utf-8"))
    assert not _repl_built(_project(tmp_path / "old", patched, 5.0))
    assert _repl_built(_project(tmp_path / "new", patched, -5.0))
