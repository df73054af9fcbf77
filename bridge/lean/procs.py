"""Processes looked at from outside: a process's descendants, read from /proc (the memory poll and the
sandbox probe both need them), and the first line a tool prints (doctor and the Ray node probe)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid`` (children of all its threads, recursively), in discovery order."""
    out: list[int] = []
    stack, seen = [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
        out.extend(kids)
        stack.extend(kids)
    return out


def first_line(argv: list[str], cwd: str | Path | None = None) -> str | None:
    """The first line ``argv`` prints (``lean --version``): None when the tool is not on PATH, ``error: ...``
    when it cannot run, ``exit N`` when it prints nothing."""
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=60, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"error: {e}"
    out = (r.stdout or r.stderr).strip().splitlines()
    return out[0] if out else f"exit {r.returncode}"
