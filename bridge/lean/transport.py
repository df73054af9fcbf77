"""How bytes travel between bridge and a REPL process that may never flush its stdout.

REPL v4.9.0 prints every answer with ``IO.println`` and no flush (``REPL/Main.lean`` at tag v4.9.0,
``repl.loop``); Lean's runtime writes through C stdio, which holds output written to a pipe in blocks of
several KB, so over a pipe the answer to ``{"cmd": "import Mathlib"}`` never arrives. The flush came
with commit 4fc1e6d ("avoid buffering stdout to ensure immediate replies", PR #49), first tagged on the
v4.10.0 toolchain. C stdio flushes a terminal at each newline, so the REPL's stdout (and only its
stdout) is a pseudo-terminal in raw mode:

* raw mode: no echo, no ``\\n`` -> ``\\r\\n`` translation (``OPOST`` off), bytes pass unchanged, so
  non-UTF-8 output is still ours to diagnose;
* stdin stays a pipe: a terminal's canonical line limit (4,095 bytes) would cut a long proof, which is
  one JSON line; a pipe carries a 1 MB request unchanged;
* stderr stays a pipe, drained into a bounded buffer by the caller.

``kind="pipe"`` keeps plain pipes for REPLs known to flush: any REPL tag since v4.10.0, and v4.9.0 once
``bridge setup`` has backported that flush (:mod:`bridge.lean.flush_backport`); the configuration's
``transport = "auto"`` picks it for those (:func:`bridge.lean.project.resolve_transport`).
"""

from __future__ import annotations

import errno
import os
import subprocess
import termios
import tty
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("pty", "pipe")


@dataclass
class Spawned:
    proc: subprocess.Popen[bytes]
    stdin_fd: int
    stdout_fd: int  # the pty's master side, or the pipe's read end
    stderr_fd: int
    kind: str

    def close(self) -> None:
        for fd in {self.stdin_fd, self.stdout_fd, self.stderr_fd}:
            try:
                os.close(fd)
            except OSError:
                pass


def _raw_pty() -> tuple[int, int]:
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no canonical mode, no signals from control characters
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # setraw clears it already; stated here because the protocol relies on it
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def spawn(argv: Sequence[str], *, cwd: str | None, env: dict[str, str] | None, kind: str = "pty") -> Spawned:
    """Start ``argv`` with stdin a pipe, stdout a raw pty (``kind="pty"``) or a pipe, stderr a pipe.

    The child gets its own session (``start_new_session``) and so no controlling terminal: the pty is
    only a line-buffered stdout, never a place for job control or SIGHUP. Raises OSError when the
    executable cannot be started.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown transport {kind!r}; expected one of {KINDS}")
    master = slave = -1
    if kind == "pty":
        master, slave = _raw_pty()
    try:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env,
            stdin=subprocess.PIPE,
            stdout=slave if kind == "pty" else subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group too: kill() reaches every child
        )
    except BaseException:
        if kind == "pty":
            os.close(master)
            os.close(slave)
        raise
    assert proc.stdin is not None and proc.stderr is not None
    if kind == "pty":
        os.close(slave)  # only the child holds it now, so its exit is seen as EOF (EIO) on the master
        out_fd = master
    else:
        assert proc.stdout is not None
        out_fd = os.dup(proc.stdout.fileno())
        proc.stdout.close()
    in_fd = os.dup(proc.stdin.fileno())
    err_fd = os.dup(proc.stderr.fileno())
    proc.stdin.close()
    proc.stderr.close()
    for fd in (in_fd, out_fd):
        os.set_blocking(fd, False)
    return Spawned(proc, in_fd, out_fd, err_fd, kind)


def read_chunk(fd: int, size: int = 65536) -> bytes | None:
    """Bytes available on a REPL's stdout; b"" at end of file; None when nothing is there yet.

    Linux reports the end of a pty whose other side is closed as EIO, not as a read of 0 bytes.
    """
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError as e:
        if e.errno == errno.EIO:
            return b""
        raise
