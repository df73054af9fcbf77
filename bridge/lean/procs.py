"""A process's descendants, read from /proc: the memory poll and the sandbox probe both need them."""

from __future__ import annotations

import os


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
