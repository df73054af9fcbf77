"""The REPL's one-line flush fix, backported to the pinned REPL v4.9.0, and how to tell a REPL flushes.

REPL v4.9.0 prints each answer with ``IO.println`` and never flushes (``REPL/Main.lean`` at tag v4.9.0,
``repl.loop``), so over a pipe its answers sit in C stdio's buffer and bridge must read them from a
pseudo-terminal, which costs a kernel round trip per line (``benchmarks/bench_overhead.py``). Upstream
fixed it in leanprover-community/repl commit 4fc1e6d ("avoid buffering stdout to ensure immediate
replies", PR #49, first tagged with the v4.10.0 toolchain): a ``printFlush`` that writes the blank line
and flushes stdout. ``bridge setup`` applies that same change to the v4.9.0 checkout before it builds
the REPL. Why it is safe:

* it applies only to the exact file of tag v4.9.0 (its SHA-256 below), where the hunk's context is the
  same as at the fix's parent (``git apply --check`` of 4fc1e6d's diff succeeds on it);
* it calls only ``IO.getStdout``, ``IO.FS.Stream.putStr`` and ``IO.FS.Stream.flush``, which Lean's
  ``Init/System/IO.lean`` has had since long before v4.9.0; the bytes written are the same (``"\\n"``,
  as ``IO.println ""`` wrote), only their timing changes;
* Lake leaves a package at its manifest revision alone: ``PackageEntry.materialize`` (Lake's
  ``Load/Materialize.lean``) checks out only when the head differs from the manifest's revision, and a
  changed tree at that revision only logs "repository ... has local changes"; it rebuilds
  ``REPL.Main`` because its source hash changed;
* bridge reads an answer over pipes only when the built binary is newer than a ``Main.lean`` that
  flushes (:func:`answers_flushed`); anything else (an unpatched or stale build, ``--repl-cmd``) keeps
  the pseudo-terminal, which works for every REPL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

UPSTREAM = "leanprover-community/repl 4fc1e6d (PR #49)"
V4_9_0_MAIN_SHA256 = "a5e31e02d208ded0b60185692552ffb7bb19caa4e7434d3ccdd883f3e4bcbc5e"
# Every REPL tag since v4.10.0 writes the blank line after an answer with this call.
FLUSHED_CALL = 'printFlush "\\n" -- easier to parse the output if there are blank lines'
_OLD_CALL = '  IO.println "" -- easier to parse the output if there are blank lines\n'
_NEW_CALL = "  " + FLUSHED_CALL + "\n"
_ANCHOR = "/-- Read-eval-print loop for Lean. -/\n"
_PRINT_FLUSH = (
    "/-- Avoid buffering the output. -/\n"  # upstream's text, line for line
    "def printFlush [ToString α] (s : α) : IO Unit := do\n"
    "  let out ← IO.getStdout\n"
    "  out.putStr (toString s)\n"
    "  out.flush -- Flush the output\n"
    "\n"
)


def main_lean(root: Path) -> Path | None:
    """The REPL package's ``REPL/Main.lean`` in the Lake packages of the project at ``root``, if it is there."""
    for name in ("REPL", "repl"):
        p = root / ".lake" / "packages" / name / "REPL" / "Main.lean"
        if p.is_file():
            return p
    return None


def flushes(text: str) -> bool:
    """Whether this ``REPL/Main.lean`` flushes stdout after each answer."""
    return FLUSHED_CALL in text


def backported(text: str) -> str | None:
    """v4.9.0's ``Main.lean`` with the flush fix; None for any other file (left as it is)."""
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != V4_9_0_MAIN_SHA256:
        return None
    if text.count(_OLD_CALL) != 1 or text.count(_ANCHOR) != 1:  # pragma: no cover - the hash says so
        return None
    return text.replace(_ANCHOR, _PRINT_FLUSH + _ANCHOR).replace(_OLD_CALL, _NEW_CALL)


def needs_backport(root: Path) -> bool:
    src = main_lean(root)
    if src is None:
        return False
    text = src.read_text(encoding="utf-8", errors="replace")
    return not flushes(text) and backported(text) is not None


def apply(root: Path) -> bool:
    """Patch the project's REPL source in place when it is v4.9.0's; True when it was patched."""
    src = main_lean(root)
    if src is None:
        return False
    new = backported(src.read_text(encoding="utf-8"))
    if new is None:
        return False
    src.write_text(new, encoding="utf-8")
    return True


def built_after_source(root: Path, binary: Path) -> bool:
    """Whether ``binary`` was built after the REPL's ``Main.lean`` was last written (Lake rebuilds on a
    changed source, so a newer binary is its build); True when there is no source to compare with."""
    src = main_lean(root)
    try:
        return src is None or binary.stat().st_mtime >= src.stat().st_mtime
    except OSError:
        return False


def answers_flushed(root: Path, binary: Path | None) -> bool:
    """Whether the project's built REPL ``binary`` flushes each answer: its source flushes and the binary
    was built after that source (:func:`built_after_source`)."""
    src = main_lean(root)
    if binary is None or src is None:
        return False
    try:
        return flushes(src.read_text(encoding="utf-8", errors="replace")) and built_after_source(root, binary)
    except OSError:
        return False
