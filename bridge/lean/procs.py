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


def proc_start(pid: int) -> str | None:
    """When ``pid`` started (field 22 of /proc/PID/stat, clock ticks since boot), or None when it is gone:
    with the pid, it names one process, so a pid reused since is never taken for it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[19] if len(fields) > 19 else None


def tagged(var: str, value: str) -> list[tuple[int, str, int]]:
    """Every process (but this one) started with ``var=value`` in its environment, as (pid, start time,
    parent pid): the environment a process was started with is inherited by whatever it starts, so a
    tag set before a tree of processes began names every one of them, orphans and new sessions too."""
    needle = f"{var}={value}".encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 19 and fields[0] != "Z":
            out.append((int(d), fields[19], int(fields[1])))
    return out


def end_processes(procs: list[tuple[int, str]], grace: float = 2.0) -> list[int]:
    """Give each (pid, start time) ``grace`` seconds to exit, then SIGKILL it and its process group (a
    REPL leads its own) by pid, only while it is still the process named; returns the pids killed."""
    import signal
    import time

    deadline = time.monotonic() + grace
    left = [p for p in procs if proc_start(p[0]) == p[1]]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if proc_start(p[0]) == p[1] and not _zombie(p[0])]
    killed = []
    for pid, start in left:
        if proc_start(pid) != start:
            continue
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].startswith("Z")


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
