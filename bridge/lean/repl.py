"""One REPL process: start it, send a request, read its answer, kill it.

Requests go to the REPL's stdin over a pipe; its answers come back over the transport of
:mod:`bridge.lean.transport` (a raw pseudo-terminal by default, because REPL v4.9.0 never flushes its
stdout; a pipe for REPLs known to flush). Output is read as raw bytes, so a REPL's malformed or
non-UTF-8 output is told apart from our own decoding. ``benchmarks/bench_overhead.py`` measures this
client against a bare loop over the same transport.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.lean import transport
from bridge.lean.procs import descendants
from bridge.lean.protocol import (
    Command,
    CommandResponse,
    FileCommand,
    ProtocolError,
    ReplError,
    Request,
    Response,
    UnpickleEnv,
    encode_request,
    loads,
    parse_response,
)


class ReplFault(Exception):
    """The process failed us: it died, hung, or spoke outside the protocol. ``kind`` says which.

    ``silent`` is True when the process ended without ever writing a byte to stdout: together with a
    fresh process that is how a REPL that cannot start (a missing script, a sandbox that refused to
    start) looks from outside.
    """

    def __init__(self, kind: str, detail: str, evidence: str = "", silent: bool = False):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # "start" | "timeout" | "crashed" | "protocol" | "memory"
        self.detail = detail
        self.evidence = evidence
        self.silent = silent


@dataclass
class ReplStats:
    requests: int = 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (bwrap and ``lake env`` run the REPL as a child)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    total_kb = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/statm") as f:
                total_kb += int(f.read().split()[1]) * page_kb
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024


class Repl:
    """A REPL process. Not thread-safe: one owner (a pool worker) at a time."""

    STDERR_KEEP = 64 * 1024  # bytes of stderr kept as evidence; a flood is drained and dropped
    POLL = 0.25  # seconds between memory checks while waiting
    READ = 65536  # bytes per read: answers are small; a big one takes a few reads
    EARLY = 16384  # largest answer decoded before its blank line arrives (see _read_object)

    def __init__(
        self,
        argv: Sequence[str],
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
        memory_limit_mb: float | None = None,
        transport_kind: str = "pty",
    ):
        self.argv = list(argv)
        self.cwd = str(cwd) if cwd else None
        self.env = env
        self.memory_limit_mb = memory_limit_mb
        self.transport_kind = transport_kind
        self.proc: subprocess.Popen[bytes] | None = None
        self._io: transport.Spawned | None = None
        self.stats = ReplStats()
        self._buf = bytearray()
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_len = 0
        self._stderr_lock = threading.Lock()
        self.next_env = 0  # the REPL numbers environments 0, 1, 2, ... in the order it creates them
        self.spoke = False  # whether any byte ever arrived on stdout

    def command_line(self) -> str:
        return " ".join(self.argv)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._io = transport.spawn(self.argv, cwd=self.cwd, env=self.env, kind=self.transport_kind)
        except OSError as e:
            raise ReplFault("start", f"cannot start `{self.command_line()}`: {e}") from None
        self.proc = self._io.proc
        self._out = self._io.stdout_fd
        self._in = self._io.stdin_fd
        self._poll = select.poll()  # registered once: cheaper per wait than select.select
        self._poll.register(self._out, select.POLLIN | select.POLLHUP | select.POLLERR)
        threading.Thread(target=self._drain_stderr, args=(self._io.stderr_fd,), daemon=True).start()
        self.stats = ReplStats()
        self._buf = bytearray()
        self.next_env = 0
        self.spoke = False

    def _drain_stderr(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._stderr_lock:
                self._stderr.append(chunk)
                self._stderr_len += len(chunk)
                while self._stderr_len > self.STDERR_KEEP and len(self._stderr) > 1:
                    self._stderr_len -= len(self._stderr.popleft())

    def stderr_tail(self, limit: int = 2000) -> str:
        with self._stderr_lock:
            data = b"".join(self._stderr)
        return data[-limit:].decode("utf-8", errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def rss_mb(self) -> float:
        return tree_rss_mb(self.proc.pid) if self.alive and self.proc else 0.0

    def terminate(self) -> None:
        """Kill the process group from any thread; the owner's pending read then ends at EOF."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self) -> None:
        """Kill the process group this object started (by its id), and nothing else."""
        if self.proc is None:
            return
        pid = self.proc.pid
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        if self._io is not None:
            self._io.close()
            self._io = None
        self.proc = None

    # -- one round trip ---------------------------------------------------------------------------

    def _evidence(self) -> str:
        parts = []
        if self.proc is not None and self.proc.poll() is not None:
            parts.append(f"exit status {self.proc.returncode}")
        tail = self.stderr_tail()
        if tail.strip():
            parts.append("stderr: " + tail.strip()[-1000:])
        if self._buf.strip():
            parts.append("stdout: " + self._buf[:500].decode("utf-8", errors="replace"))
        return "; ".join(parts)

    def _check_memory(self) -> None:
        if self.memory_limit_mb and self.proc is not None:
            rss = self.rss_mb()
            if rss > self.memory_limit_mb:
                raise ReplFault("memory", f"memory limit exceeded: {rss:.0f} MB > {self.memory_limit_mb:.0f} MB")

    def _write(self, data: bytes, deadline: float) -> None:
        fd = self._in
        view = memoryview(data)
        while view:
            try:  # try first: the pipe almost always has room for the whole request
                n = os.write(fd, view)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReplFault("timeout", "the REPL stopped reading its input") from None
                _, w, _ = select.select([], [fd], [], min(left, self.POLL))
                if not w:
                    self._check_memory()
                continue
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.EBADF):
                    self._reap()
                    raise ReplFault("crashed", "the REPL exited before reading the request", self._evidence(),
                                    silent=not self.spoke) from None
                raise
            view = view[n:]

    def _reap(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.01)  # let the stderr drain thread read the last words

    def _read_object(self, deadline: float) -> tuple[bytes, object]:
        """Bytes of the next answer, and the answer decoded when that was how its end was found.

        An answer ends at its blank line, or sooner: REPL v4.9.0 writes it with two ``IO.println`` calls
        (the JSON, then ``""``; ``REPL/Main.lean`` at tag v4.9.0, ``repl.loop``), and on a terminal C stdio
        flushes each, so the blank line often arrives in a second write. Waiting for it costs a second
        wake-up per answer, which is most of the pty's cost over a pipe. So a small buffer that ends in
        ``}`` and a newline is decoded at once: if it is one whole JSON object, it is the answer (Lean's
        JSON printer escapes every newline inside a string, so a raw ``}\n`` inside a string cannot end
        a whole object), and the blank line still to come is skipped as the next read's leading newline.
        This trusts no more than the blank line did: anything that could end an object early could as
        well print the blank line after it.

        One ``os.read`` per poll wake-up, into one growing buffer, and each byte is searched once: a pty
        hands over at most 4 KB per read (``N_TTY_BUF_SIZE``), so a 1 MB answer is ~256 reads, and
        rescanning (or re-concatenating) the whole buffer each time made that quadratic. The early
        decode is tried only below ``EARLY`` bytes, so it never rescans a big answer.
        """
        fd = self._out
        buf = self._buf
        scanned = 0  # bytes of ``buf`` already searched for the terminator
        while True:
            start = 0
            n = len(buf)
            while start < n and buf[start] in b"\r\n":  # the previous answer's blank line (or a \r\n)
                start += 1
            if start:
                del buf[:start]
                scanned = max(0, scanned - start)
            idx = buf.find(b"\n\n", max(0, scanned - 1))  # -1: a terminator split across two reads
            if idx >= 0:
                out = bytes(buf[:idx])
                del buf[: idx + 2]
                return out, None
            if 0 < len(buf) <= self.EARLY and buf.endswith(b"}\n") and buf[:1] == b"{":
                try:
                    obj = loads(buf.decode("utf-8"))
                except ValueError:  # not whole yet (or not UTF-8: left to the blank-line path's diagnosis)
                    pass
                else:
                    out = bytes(buf[:-1])
                    del buf[:]
                    return out, obj
            scanned = len(buf)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplFault("timeout", "no answer within the time limit")
            if not self._poll.poll(min(left, self.POLL) * 1000):
                self._check_memory()
                continue
            chunk = transport.read_chunk(fd, self.READ)
            if chunk is None:
                continue
            if not chunk:
                # EOF: whatever was left is a partial answer.
                self._reap()
                what = "exited mid-answer" if buf.strip() else "exited"
                raise ReplFault("crashed", f"the REPL {what}", self._evidence(), silent=not self.spoke)
            self.spoke = True
            buf += chunk

    def send(self, req: Request, timeout: float) -> Response:
        """Send one request and return its typed answer, or raise ReplFault.

        The answer must have the shape the request asks for: a command gets the ``env`` the REPL is due
        to create next, and nothing may follow the answer before the next request.
        """
        if self.proc is None or self._io is None:
            raise ReplFault("crashed", "the REPL is not running", self._evidence())
        deadline = time.monotonic() + timeout
        if self._buf.strip():
            raise ReplFault("protocol", "output arrived that answers no request", self._evidence())
        self._write(encode_request(req), deadline)
        raw, obj = self._read_object(deadline)
        self.stats.requests += 1
        if obj is None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ReplFault("protocol", f"the REPL wrote non-UTF-8 output ({e.reason} at byte {e.start})",
                                repr(raw[:300])) from None
        else:
            text = ""
        try:
            resp = parse_response(loads(text) if obj is None else obj)
        except (json.JSONDecodeError, ProtocolError) as e:
            raise ReplFault("protocol", f"the REPL wrote something that is not a protocol answer: {e}",
                            (text or raw.decode("utf-8", "replace"))[:500]) from None
        self._expect_shape(req, resp)
        # A second object read together with the answer is a forged or confused answer: trust neither.
        # No extra syscall looks for output that arrives later: it is read as the next answer, where the
        # env numbering and the soundness follow-ups' expected shapes refuse it.
        if self._buf.strip():
            raise ReplFault("protocol", "the REPL wrote more than one answer to one request", self._evidence())
        return resp

    def _expect_shape(self, req: Request, resp: Response) -> None:
        if isinstance(req, (Command, FileCommand, UnpickleEnv)):
            if isinstance(resp, CommandResponse):
                if resp.env != self.next_env:
                    raise ReplFault(
                        "protocol", f"answer names env {resp.env}, but the REPL's next env is {self.next_env}"
                    )
                self.next_env += 1
            elif not isinstance(resp, ReplError):
                raise ReplFault("protocol", f"a command got a {type(resp).__name__}: {resp.to_json()!r}"[:400])
