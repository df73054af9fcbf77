"""Tool-integrated reasoning in NuminaMath's format, and the sandbox its python runs in.

The format (NuminaMath 7B TIR: its model card, and the SC-TIR loop of project-numina/aimo-progress-prize,
``kaggle-solution.ipynb``): the model writes prose and a ```python block and opens an ```output block;
generation stops there, the last python block is executed, and its output (stdout, or a shortened
traceback; at most 200 characters, then `` ... (output truncated)``) is written into the block, closed with
```, and the model continues; up to D rounds. The code gets Numina's prelude (``math``, ``numpy as np``,
``sympy as sp``) and, as in a notebook, the value of a last bare expression is printed (Numina wraps the
last line in ``print(...)`` whatever it is; here only an expression statement is wrapped, so a last
``x = 1`` or an indented line no longer becomes a syntax error).

Our backends take no stop strings, so a generation is cut at its first ```output (:func:`cut_at_output`):
whatever output the model invented is thrown away and the real one put in its place.

Every block runs in a process of its own under the bubblewrap sandbox of the Lean workers
(:func:`bridge.lean.sandbox.wrap`): no network, an empty file system with read-only system directories and
the interpreter, a private tmpdir as the only writable place, kernel limits on address space (memory),
processes and file size, a CPU-time limit (``prlimit --cpu``), a wall-clock timeout after which the whole
sandbox is killed, and output written to a file the file-size limit caps. Nothing runs in the caller's
process; :class:`CodeRunner` only starts and reads sandboxes (from a thread pool, so many run at once).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge.errors import SetupError

PYTHON_BLOCK = re.compile(r"```python(.*?)```", re.S)
OUTPUT_OPEN = "```output"
TRUNCATED = " ... (output truncated)"
# run.py: Numina's prelude, then the model's code (code.py) in the same namespace, so that tracebacks
# and line numbers are the model's own. One BLAS thread: the process limit counts threads.
RUNNER = """import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import math
try:
    import numpy as np
except ImportError:
    pass
try:
    import sympy as sp
except ImportError:
    pass
del os
with open("code.py", encoding="utf-8") as _f:
    _src = _f.read()
exec(compile(_src, "code.py", "exec"), {**globals(), "__name__": "__main__"})
"""


# -- the format (pure) -----------------------------------------------------------------------------


def cut_at_output(generated: str) -> tuple[str, str | None]:
    """(the generation up to and including its first ```output line, the python code to run), or
    (the whole generation, None) when it opens no output block after a complete python block."""
    at = generated.find(OUTPUT_OPEN)
    if at < 0:
        return generated, None
    blocks = PYTHON_BLOCK.findall(generated[:at])
    if not blocks:
        return generated, None
    return generated[:at].rstrip(" ") + OUTPUT_OPEN + "\n", blocks[-1]


def prepare_code(code: str) -> str:
    """The model's code with a print of its last bare expression (run after :data:`RUNNER`'s prelude)."""
    body = code.strip("\n")
    try:
        tree = ast.parse(body)
    except SyntaxError:
        return body + "\n"  # let python report it, with its line
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr) and not (isinstance(last.value, ast.Call) and getattr(last.value.func, "id", "") == "print"):
        lines = body.split("\n")
        start, end = last.lineno - 1, (last.end_lineno or last.lineno) - 1
        expr = "\n".join(lines[start:end + 1])
        body = "\n".join(lines[:start] + [f"print({expr})"] + lines[end + 1:])
    return body + "\n"


def shorten_traceback(stderr: str, code_path: str) -> str:
    """Numina's condensed traceback: the ``Traceback`` line, the frames in the model's code (the file's
    path left out) with their source line, and the exception; frames of the runner and of libraries are
    dropped."""
    lines = stderr.rstrip().split("\n")
    if not lines or not lines[-1]:
        return ""
    out: list[str] = []
    want_next = False
    for line in lines[:-1]:
        if line.startswith("Traceback"):
            out.append(line)
        elif f'File "{code_path}"' in line:
            out.append(line.replace(f'File "{code_path}", ', ""))
            want_next = True
        elif want_next:
            out.append(line)
            want_next = False
    return "\n".join(out + [lines[-1]])


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED


@dataclass(frozen=True)
class CodeLimits:
    wall_s: float = 10.0  # the whole sandbox is killed after this
    cpu_s: int = 5  # RLIMIT_CPU: SIGXCPU at this many CPU seconds
    memory_mb: int = 2048  # RLIMIT_AS
    processes: int = 32  # RLIMIT_NPROC (threads count)
    file_mb: int = 8  # RLIMIT_FSIZE: every file, the captured stdout and stderr included
    output_chars: int = 200  # what goes back to the model (NuminaMath's truncation_limit)


@dataclass(frozen=True)
class Execution:
    """One block's run: what went back to the model, and why it ended."""

    code: str
    status: str  # ok | error | timeout | cpu-limit | memory-limit | output-limit | sandbox
    output: str  # as written into the ```output block
    returncode: int | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Execution:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


# 128 + signal: how bwrap (and a shell) reports a child killed by a signal; python reports -signal
_SIG = {signal.SIGXCPU: "cpu-limit", signal.SIGKILL: "cpu-limit", signal.SIGXFSZ: "output-limit"}


def classify(returncode: int | None, timed_out: bool, stdout: str, stderr: str, code_path: str,
             limits: CodeLimits) -> tuple[str, str]:
    """(status, what the model is shown) of a finished run (pure)."""
    if timed_out:
        return "timeout", f"TimeoutError: the code ran longer than {limits.wall_s:g} s and was stopped"
    if returncode == 0:
        return "ok", stdout.strip()
    if returncode is not None:
        sig = returncode - 128 if returncode > 128 else -returncode if returncode < 0 else None
        if sig in _SIG:
            if _SIG[sig] == "cpu-limit":
                return "cpu-limit", f"TimeoutError: the code used more than {limits.cpu_s} s of CPU time and was stopped"
            return "output-limit", f"OSError: the code wrote more than {limits.file_mb} MB and was stopped"
    tail = stderr.rstrip().split("\n")[-1] if stderr.strip() else ""
    if tail.startswith("bwrap:"):
        return "sandbox", "the sandbox failed to start: " + tail[len("bwrap:"):].strip()
    if "[Errno 27] File too large" in tail:  # python ignores SIGXFSZ: the write fails instead
        return "output-limit", f"OSError: the code wrote more than {limits.file_mb} MB and was stopped"
    if tail.startswith("MemoryError"):
        return "memory-limit", f"MemoryError: the code asked for more than {limits.memory_mb} MB"
    short = shorten_traceback(stderr, code_path)
    return "error", short or f"the code exited with status {returncode}"


# -- running (the sandbox) -------------------------------------------------------------------------


def _prlimit() -> str:
    found = shutil.which("prlimit") or "/usr/bin/prlimit"
    if not os.path.exists(found):
        raise SetupError("`prlimit` (util-linux) is not installed: the code runner needs it for its CPU limit",
                         "apt-get install util-linux")
    return os.path.realpath(found)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class CodeRunner:
    """Runs python blocks, each in a fresh sandboxed process; ``run_many`` runs several at once."""

    def __init__(self, limits: CodeLimits | None = None, workers: int = 2, sandbox: bool = True,
                 python: str | None = None):
        self.limits = limits or CodeLimits()
        self.python = python or sys.executable
        self.sandboxed = sandbox
        self.workers = max(1, workers)
        if sandbox:
            from bridge.lean.sandbox import sandbox_available

            ok, why = sandbox_available()
            if not ok:
                raise SetupError(f"the sandbox is not available for TIR code: {why}",
                                 "install bubblewrap (apt-get install bubblewrap), or pass --no-sandbox to run "
                                 "model-written python with rlimits only")
        else:
            warnings.warn("running model-written python without a sandbox (--no-sandbox): rlimits only, "
                          "with network and the file system", stacklevel=2)
        self._prlimit = _prlimit()

    def _argv(self, tmp: Path) -> list[str]:
        lim = self.limits
        # soft CPU limit below the hard one: SIGXCPU first (reported as such), SIGKILL a second later
        inner = [self._prlimit, f"--cpu={lim.cpu_s}:{lim.cpu_s + 1}", "--", self.python, "-I", "-u", str(tmp / "run.py")]
        if not self.sandboxed:
            return [self._prlimit, f"--as={lim.memory_mb * 1024 * 1024}", f"--fsize={lim.file_mb * 1024 * 1024}",
                    f"--nproc={lim.processes}", "--core=0", *inner[1:]]
        from bridge.lean.sandbox import SandboxLimits, lean_readonly_paths, wrap

        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return wrap(inner, tmp, readonly=lean_readonly_paths(tmp, [self.python], env=env), env=env,
                    limits=SandboxLimits(address_space_mb=lim.memory_mb, processes=lim.processes,
                                         file_size_mb=lim.file_mb))

    def run(self, code: str) -> Execution:
        t0 = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="bridge-tir-"))  # the sandbox's only writable place
        out_dir = Path(tempfile.mkdtemp(prefix="bridge-tir-out-"))  # ours: never bound inside
        try:
            (tmp / "code.py").write_text(prepare_code(code), encoding="utf-8")
            (tmp / "run.py").write_text(RUNNER, encoding="utf-8")
            argv = self._argv(tmp)  # (root: chowns tmp to the sandbox's uid)
            with open(out_dir / "stdout", "wb") as out, open(out_dir / "stderr", "wb") as err:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=tmp,
                                        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True)
                try:
                    rc: int | None = proc.wait(timeout=self.limits.wall_s)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    _kill_group(proc)  # bwrap and, through --die-with-parent, everything inside
                    proc.wait()
                    rc, timed_out = None, True
            cap = 64 * 1024  # read no more than this of what it wrote
            stdout = (out_dir / "stdout").open("rb").read(cap).decode("utf-8", errors="replace")
            stderr = _tail(out_dir / "stderr", cap)
            status, shown = classify(rc, timed_out, stdout, stderr, "code.py", self.limits)
            if status != "ok" and len(shown) > self.limits.output_chars:
                shown = shown.rstrip().split("\n")[-1]  # a long traceback: its exception line says most
            return Execution(code, status, truncate(shown, self.limits.output_chars), rc, time.monotonic() - t0)
        finally:
            # the sandbox may have left anything in tmp (symlinks included): remove, never write into it
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(out_dir, ignore_errors=True)

    def run_many(self, codes: Sequence[str]) -> list[Execution]:
        if len(codes) <= 1:
            return [self.run(c) for c in codes]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(codes)), thread_name_prefix="bridge-tir") as ex:
            return list(ex.map(self.run, codes))


def _tail(path: Path, cap: int) -> str:
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - cap))
        return f.read().decode("utf-8", errors="replace")
