"""A pool of REPL workers: header affinity, limits, recycling, one retry, results streamed.

Each worker thread owns one :class:`~bridge.lean.repl.Repl`. A header (imports, options, opens) is
elaborated once per worker and its ``env`` reused for every job with the same header text; the
scheduler hands a worker jobs whose header it already has before anything else. Every job submitted
comes back exactly once as an :class:`Outcome`, whatever the REPL did.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.lean.protocol import Command, CommandResponse, ReplError
from bridge.lean.repl import Repl, ReplFault


@dataclass
class Job:
    """One body to check after ``header``; ``followup`` runs in the body's env when ``needs_followup``.

    ``reference`` is ``(key, command, check)``: ``command`` is elaborated in the clean header env and
    ``check`` in the env it creates; the answer is computed once per key for the whole pool.
    """

    header: str
    body: str
    followup: str | None = None
    reference: tuple[str, str, str] | None = None
    payload: Any = None
    submitted: float = 0.0
    precomputed: bool = False  # decided without Lean (screen, cache): passed straight through


@dataclass
class Outcome:
    job: Job
    status: str  # "ok" | "timeout" | "crashed" | "setup_error" | "precomputed"
    body: CommandResponse | None = None
    followup: CommandResponse | None = None
    reference: CommandResponse | None = None
    detail: str = ""
    evidence: str = ""
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)


class HeaderFailed(Exception):
    pass


@dataclass
class PoolLimits:
    timeout: float = 300.0
    header_timeout: float = 900.0
    memory_limit_mb: float | None = None
    recycle_after: int = 2000
    recycle_memory_mb: float | None = None
    max_heartbeats: int | None = None
    queue_size: int = 256
    retries: int = 1  # a timeout or crash is tried once more on a fresh worker before it stands


class _Scheduler:
    """Bounded queue of jobs grouped by header; a worker gets a job of a header it has if any waits."""

    def __init__(self, maxsize: int):
        self.cond = threading.Condition()
        self.queues: dict[str, collections.deque[Job]] = {}
        self.loaded: collections.Counter[str] = collections.Counter()
        self.n = 0
        self.maxsize = max(1, maxsize)
        self.closed = False

    def put(self, job: Job) -> bool:
        """Queue a job; False once the pool is closing (the producer should stop)."""
        with self.cond:
            if self.n >= self.maxsize:
                while self.n > self.maxsize // 2 and not self.closed:
                    self.cond.wait()
            if self.closed:
                return False
            self.queues.setdefault(job.header, collections.deque()).append(job)
            self.n += 1
            self.cond.notify()  # one idle worker is enough for one job
            return True

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def get(self, headers: Iterable[str]) -> Job | None:
        with self.cond:
            while self.n == 0:
                if self.closed:
                    return None
                self.cond.wait()
            waiting = [h for h, q in self.queues.items() if q]
            mine = [h for h in waiting if h in headers]
            if mine:
                h = max(mine, key=lambda h: len(self.queues[h]))
            else:  # a header no worker has yet, else the one fewest workers have, longest queue first
                h = min(waiting, key=lambda h: (self.loaded[h], -len(self.queues[h])))
            job = self.queues[h].popleft()
            self.n -= 1
            if self.n == self.maxsize // 2:
                self.cond.notify_all()  # wake a waiting producer at half, not per job: fewer thread switches
            return job

    def mark(self, header: str, delta: int) -> None:
        with self.cond:
            self.loaded[header] += delta


class _Worker:
    def __init__(self, index: int, pool: Pool):
        self.index = index
        self.pool = pool
        self.repl: Repl | None = None
        self.headers: dict[str, int | None] = {}
        self.rss_checked = 0.0

    def _drop(self) -> None:
        for h in self.headers:
            self.pool._sched.mark(h, -1)
        self.headers = {}
        if self.repl is not None:
            self.repl.kill()
            self.repl = None

    def fresh(self) -> Repl:
        lim = self.pool.limits
        r = self.repl
        # (a dead REPL is noticed by send() itself, at EOF or EPIPE: no waitpid per request here; and
        # /proc is read for the memory mark at most once a second, not per request)
        if r is not None:
            now = time.monotonic()
            check_rss = lim.recycle_memory_mb is not None and now - self.rss_checked >= 1.0
            if check_rss:
                self.rss_checked = now
            if (r.proc is None or r.stats.requests >= lim.recycle_after
                    or (check_rss and r.rss_mb() > lim.recycle_memory_mb)):  # type: ignore[operator]
                self._drop()
        if self.repl is None:
            if self.pool._sched.closed:  # a worker outliving close() must not start a REPL nobody kills
                raise ReplFault("crashed", "the pool is shutting down")
            self.repl = self.pool._make_repl()
            self.repl.start()
            self.pool.started += 1
        return self.repl

    def header_env(self, header: str) -> tuple[int | None, float]:
        """The env of ``header`` on this worker, elaborating it first if needed; (env, seconds spent)."""
        if header in self.headers:
            return self.headers[header], 0.0
        repl = self.fresh()
        text = self.pool.header_text(header)
        if not text.strip():
            self.headers[header] = None
            return None, 0.0
        t0 = time.monotonic()
        resp = repl.send(Command(cmd=text), self.pool.limits.header_timeout)
        spent = time.monotonic() - t0
        if isinstance(resp, ReplError):
            raise HeaderFailed(resp.message)
        assert isinstance(resp, CommandResponse)
        if resp.errors:
            raise HeaderFailed("; ".join(m.data for m in resp.errors)[:2000])
        self.headers[header] = resp.env
        self.pool._sched.mark(header, +1)
        return resp.env, spent

    def command(self, cmd: str, env: int | None, timeout: float) -> CommandResponse:
        resp = self.fresh().send(Command(cmd=cmd, env=env), timeout)
        if isinstance(resp, ReplError):
            raise ReplFault("crashed", f"the REPL refused the command: {resp.message}")
        assert isinstance(resp, CommandResponse)
        return resp


class Pool:
    """``with Pool(repl_factory, workers=4) as pool: for outcome in pool.run(jobs): ...``"""

    def __init__(
        self,
        repl_factory: Callable[[], Repl],
        workers: int = 1,
        limits: PoolLimits | None = None,
        needs_followup: Callable[[CommandResponse], bool] | None = None,
    ):
        self._make_repl = repl_factory
        self.n_workers = max(1, workers)
        self.limits = limits or PoolLimits()
        self.needs_followup = needs_followup or (lambda r: True)
        self._sched = _Scheduler(self.limits.queue_size)
        self._results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.header_errors: dict[str, str] = {}
        self._references: dict[str, CommandResponse] = {}
        self.started = 0  # REPL processes started, for tests and benchmarks
        self._busy = False

    def header_text(self, header: str) -> str:
        if self.limits.max_heartbeats is not None:
            return header.rstrip("\n") + f"\n\nset_option maxHeartbeats {self.limits.max_heartbeats}\n"
        return header

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sched.close()
        for t in self._threads:
            t.join(timeout=10)
        for w in self._workers:
            w._drop()
        self._threads = []
        self._workers = []

    @property
    def _inline(self) -> bool:
        return self.n_workers == 1

    def _start_workers(self) -> None:
        if self._workers:
            return
        self._sched = _Scheduler(self.limits.queue_size)
        for i in range(self.n_workers):
            w = _Worker(i, self)
            self._workers.append(w)
            if not self._inline:
                t = threading.Thread(target=self._work, args=(w,), name=f"bridge-worker-{i}", daemon=True)
                self._threads.append(t)
                t.start()

    # -- running ------------------------------------------------------------------------------------

    def run(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Check every job; yield each outcome as it finishes (not in input order).

        An exception raised by ``jobs`` (a malformed input row) is re-raised after every outcome of
        the jobs read before it has been yielded, so nothing already done is lost.
        """
        if self._busy:
            raise RuntimeError("Pool.run is already running")
        self._busy = True
        self._start_workers()
        if self._inline:
            # One worker: the consuming thread is the worker and reads the jobs itself. No feeder, no
            # queue, no thread hand-off per result (measured in benchmarks/bench_overhead.py), and
            # nothing is lost to overlap: one worker checks one job at a time anyway.
            w = self._workers[0]
            try:
                for job in jobs:
                    job.submitted = time.monotonic()
                    yield self._handle(w, job)
            finally:
                self._busy = False
                self.close()
            return
        state: dict[str, Any] = {"submitted": 0, "done": False, "error": None}

        def feed() -> None:
            try:
                for job in jobs:
                    job.submitted = time.monotonic()
                    if not self._sched.put(job):
                        break  # the consumer stopped early: read no further
                    with self._lock:
                        state["submitted"] += 1
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                state["error"] = e
            finally:
                with self._lock:
                    state["done"] = True
                self._results.put(None)  # type: ignore[arg-type]  # wake the consumer

        feeder = threading.Thread(target=feed, name="bridge-feeder", daemon=True)
        feeder.start()
        got = 0
        try:
            while True:
                with self._lock:
                    if state["done"] and got >= state["submitted"]:
                        break
                item = self._results.get()
                if item is None:
                    continue
                got += 1
                yield item
        finally:
            self._busy = False
            self.close()
            feeder.join(timeout=10)
        if state["error"] is not None:
            raise state["error"]

    def _handle(self, w: _Worker, job: Job) -> Outcome:
        if job.precomputed:
            return Outcome(job, "precomputed", attempts=0)
        try:
            return self._process(w, job)
        except Exception as e:  # noqa: BLE001 - a bug here must not lose the job
            w._drop()
            return Outcome(job, "crashed", detail=f"internal error: {e!r}")

    def _work(self, w: _Worker) -> None:
        while (job := self._sched.get(w.headers)) is not None:
            self._results.put(self._handle(w, job))

    def _reference(self, w: _Worker, key: str, cmd: str, check: str, header_env: int | None) -> CommandResponse:
        with self._lock:
            known = self._references.get(key)
        if known is not None:
            return known
        r1 = w.command(cmd, header_env, self.limits.timeout)
        r2 = w.command(check, r1.env, self.limits.timeout)
        with self._lock:
            self._references[key] = r2
        return r2

    def _process(self, w: _Worker, job: Job) -> Outcome:
        lim = self.limits
        queued = time.monotonic() - job.submitted
        fault: ReplFault | None = None
        header_faults = 0
        for attempt in range(1, lim.retries + 2):
            if job.header in self.header_errors:
                return Outcome(job, "setup_error", detail=self.header_errors[job.header], attempts=attempt,
                               timings={"queued": queued, "header": 0.0, "check": 0.0})
            try:
                try:
                    env, header_s = w.header_env(job.header)
                except ReplFault:
                    header_faults += 1
                    if header_faults > lim.retries:  # the header itself kills or hangs a fresh REPL
                        with self._lock:
                            self.header_errors.setdefault(
                                job.header, "the header crashed or hung the REPL on every try "
                                f"(limit {lim.header_timeout:.0f}s)")
                    raise
                t0 = time.monotonic()
                # the header, then the body in its env: exactly what the REPL protocol contract promises;
                # the soundness follow-up and the reference statement come after, only for clean bodies
                body = w.command(job.body, env, lim.timeout)
                follow = ref = None
                if job.followup and self.needs_followup(body):
                    follow = w.command(job.followup, body.env, lim.timeout)
                    if job.reference is not None and follow.messages:
                        ref = self._reference(w, *job.reference, header_env=env)
                check_s = time.monotonic() - t0
                return Outcome(job, "ok", body=body, followup=follow, reference=ref, attempts=attempt,
                               timings={"queued": queued, "header": header_s, "check": check_s})
            except HeaderFailed as e:
                with self._lock:
                    self.header_errors.setdefault(job.header, str(e))
                return Outcome(job, "setup_error", detail=self.header_errors[job.header], attempts=attempt,
                               timings={"queued": queued, "header": 0.0, "check": 0.0})
            except ReplFault as f:
                if not f.evidence and w.repl is not None:
                    f.evidence = w.repl._evidence()
                fault = f
                w._drop()
        assert fault is not None
        status = "timeout" if fault.kind == "timeout" else "crashed"
        return Outcome(job, status, detail=fault.detail, evidence=fault.evidence, attempts=lim.retries + 1,
                       timings={"queued": queued, "header": 0.0, "check": 0.0})
