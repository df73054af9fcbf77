"""The bubblewrap command line around every Lean process that elaborates model-written code.

Lean runs arbitrary programs at elaboration time (``#eval``, ``run_cmd``, ``initialize``). Inside the
sandbox it has: no network; a read-only view of the file system (toolchain and Lake project included);
an empty, read-only home, with only the toolchain (``~/.elan``) and the project bound back; a
private temporary directory, the only writable place; its own PID namespace, so it cannot see or signal
our processes; a new session (no terminal injection); and it dies with its parent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def sandbox_available() -> tuple[bool, str]:
    """Whether bwrap exists and can create namespaces here (some containers forbid user namespaces)."""
    bw = bwrap_path()
    if bw is None:
        return False, "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        r = subprocess.run(
            [bw, "--ro-bind", "/", "/", "--unshare-all", "--dev", "/dev", "--proc", "/proc", "true"],
            capture_output=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bwrap failed to run: {e}"
    if r.returncode != 0:
        return False, "bwrap cannot create namespaces here: " + r.stderr.decode(errors="replace").strip()[:300]
    return True, "bubblewrap works"


def wrap(
    argv: list[str],
    tmpdir: str | Path,
    readonly: list[str | Path] = (),  # type: ignore[assignment]
    home: str | Path | None = None,
    cwd: str | Path | None = None,
) -> list[str]:
    """``argv`` under bwrap. ``readonly`` paths (toolchain, project) stay visible even inside ``home``."""
    bw = bwrap_path()
    if bw is None:
        raise RuntimeError("bubblewrap is not installed")
    home = Path(home or os.path.expanduser("~"))
    tmpdir = Path(tmpdir)
    args = [
        bw,
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--tmpfs", str(home),
    ]
    for p in readonly:
        p = Path(p).resolve()
        if p.exists():
            args += ["--ro-bind", str(p), str(p)]
    args += [
        "--bind", str(tmpdir), str(tmpdir),
        # the empty /tmp, /dev and home become read-only: the private tmpdir is the one writable place
        "--remount-ro", "/tmp",
        "--remount-ro", "/dev",
        "--remount-ro", str(home),
        "--setenv", "TMPDIR", str(tmpdir),
        "--setenv", "HOME", str(home),
        "--unshare-all",  # network, PID, IPC, UTS, user, cgroup namespaces
        "--new-session",
        "--die-with-parent",
    ]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    return args + ["--"] + list(argv)


def lean_readonly_paths(project: Path, argv: list[str]) -> list[Path]:
    """What Lean needs to see inside the sandbox: the toolchain, the project, the REPL command's file."""
    paths: list[Path] = [project]
    elan = Path(os.environ.get("ELAN_HOME", Path.home() / ".elan"))
    paths.append(elan)
    for a in argv:
        p = Path(a)
        if p.is_absolute() and p.exists():
            # the executable's own directory and, through symlinks, its installation prefix
            # (a virtualenv's python points into ~/.pyenv/versions/X/bin)
            paths += [p.parent, p.resolve().parent.parent]
    return paths
