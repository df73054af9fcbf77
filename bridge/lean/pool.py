"""A pool of REPL workers: header affinity, limits, recycling, one retry, results streamed.

Each worker thread owns one :class:`~bridge.lean.repl.Repl`. A header (imports, options, opens) is
elaborated once per worker and its ``env`` reused for every job with the same header text; the
scheduler hands a worker jobs whose header it already has before anything else, and elaborates a
header on a second worker only when the work waiting for it is worth more than an elaboration. Every
job submitted comes back exactly once as an :class:`Outcome`, whatever the REPL did.

Reference statements are elaborated by a separate REPL process that never runs candidate code, so
no candidate can change what another candidate is compared with.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import SetupError
from bridge.lean import header as hdr
from bridge.lean.protocol import Command, CommandResponse, ReplError
from bridge.lean.repl import Repl, ReplFault


@dataclass
class Job:
    """One body to check after ``header``; ``followup`` runs in the body's env when ``needs_followup``.

    ``reference`` is ``(key, command, check)``: ``command`` is elaborated in the clean header env of the
    reference process and ``check`` in the env it creates; the answer is computed once per key.
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
    status: str  # "ok" | "timeout" | "crashed" | "setup_error" | "precomputed" | "cancelled" (stop() came first)
    body: CommandResponse | None = None
    followup: CommandResponse | None = None
    reference: CommandResponse | None = None
    detail: str = ""
    evidence: str = ""
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    retried_for: str | None = None  # why a first attempt was thrown away (a worker that looked compromised)
    result: Any = None  # what the pool's ``finish`` made of it, computed in the worker thread


class HeaderFailed(Exception):
    pass


class StartFailed(SetupError):
    """The REPL cannot start at all: no candidate can be checked, so the run stops."""


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


# What a reviewer of a finished outcome asks of the pool: keep the worker, replace it after this job,
# or throw this attempt away and try the job again on a fresh worker.
KEEP, RECYCLE, RETRY = "keep", "recycle", "retry"


def worth_joining(header: str, waiting: int, loaded: int, header_costs: Mapping[str, float], job_cost: float,
                  jobs_timed: int) -> bool:
    """Whether ``waiting`` jobs of ``header``, shared with the ``loaded`` workers that have it, are worth more
    than elaborating it once more (the local scheduler's rule, and the Ray driver's)."""
    cost = header_costs.get(header)
    if cost is None and header_costs:  # still elaborating on its owner: headers cost alike
        cost = sum(header_costs.values()) / len(header_costs)
    if cost is None or jobs_timed == 0:
        return waiting > 4 * loaded  # nothing measured yet: only a clearly long queue
    return waiting * job_cost / (loaded + 1) > cost


def job_average(average: float, n: int, job_s: float) -> float:
    """The seconds-per-job average after its ``n``-th measurement (a moving average over the last ~20)."""
    return average + (job_s - average) / min(n, 20)


class _Scheduler:
    """Bounded queue of jobs grouped by header.

    A worker gets a job of a header it has (or is loading) if any waits; else a job of a header nobody
    has; else it joins the header with the most work waiting, but only when that work, shared with the
    workers already on it, is worth more than elaborating the header once more (``_worth_joining``).
    Claims are counted when a job is handed out, not when its header finishes elaborating, so two idle
    workers never both start elaborating the same new header.
    """

    def __init__(self, maxsize: int):
        self.cond = threading.Condition()
        self.queues: dict[str, collections.deque[Job]] = {}
        self.loaded: collections.Counter[str] = collections.Counter()  # workers that have or load a header
        self.n = 0
        self.maxsize = max(1, maxsize)
        self.closed = False
        self.header_cost: dict[str, float] = {}  # seconds to elaborate, measured (last value)
        self.job_cost = 0.0  # seconds per job, moving average
        self.jobs_timed = 0

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
            # any idle worker may take a header nobody has; for a claimed one, wake all, so the owner hears
            if self.loaded[job.header] == 0:
                self.cond.notify()
            else:
                self.cond.notify_all()
            return True

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def drain(self) -> list[Job]:
        """Take every waiting job out (a stop: they are handed back as cancelled, never started)."""
        with self.cond:
            jobs = [j for q in self.queues.values() for j in q]
            for q in self.queues.values():
                q.clear()
            self.n = 0
            self.cond.notify_all()
            return jobs

    def _worth_joining(self, h: str) -> bool:
        return worth_joining(h, len(self.queues[h]), self.loaded[h], self.header_cost, self.job_cost, self.jobs_timed)

    def _choose(self, mine: set[str]) -> str | None:
        waiting = [h for h, q in self.queues.items() if q]
        if not waiting:
            return None
        own = [h for h in waiting if h in mine]
        if own:
            return max(own, key=lambda h: len(self.queues[h]))
        free = [h for h in waiting if self.loaded[h] == 0]
        if free:
            return max(free, key=lambda h: len(self.queues[h]))
        join = [h for h in waiting if self._worth_joining(h)]
        if join:
            return max(join, key=lambda h: len(self.queues[h]) / (self.loaded[h] + 1))
        return None

    def get(self, worker: _Worker) -> Job | None:
        with self.cond:
            while True:
                if self.closed:
                    return None
                h = self._choose(worker.claimed) if self.n else None
                if h is not None:
                    break
                self.cond.wait()
            job = self.queues[h].popleft()
            self.n -= 1
            if h not in worker.claimed:
                worker.claimed.add(h)
                self.loaded[h] += 1
            if self.n == self.maxsize // 2:
                self.cond.notify_all()  # wake a waiting producer at half, not per job: fewer thread switches
            return job

    def claim(self, worker: _Worker, header: str) -> None:
        """For the inline (one-worker) pool, which takes its jobs without ``get``."""
        if header not in worker.claimed:
            with self.cond:
                worker.claimed.add(header)
                self.loaded[header] += 1

    def release(self, worker: _Worker) -> None:
        with self.cond:
            for h in worker.claimed:
                self.loaded[h] -= 1
            worker.claimed.clear()
            self.cond.notify_all()  # a header nobody has now: a waiting worker may take its jobs

    def timed(self, header: str | None, header_s: float | None, job_s: float | None) -> None:
        with self.cond:
            if header is not None and header_s:
                self.header_cost[header] = header_s
            if job_s is not None:
                self.jobs_timed += 1
                self.job_cost = job_average(self.job_cost, self.jobs_timed, job_s)


class _Worker:
    def __init__(self, index: int, pool: Pool):
        self.index = index
        self.pool = pool
        self.repl: Repl | None = None
        self.headers: dict[str, int | None] = {}
        self.claimed: set[str] = set()  # headers the scheduler counts this worker for
        self.probed: set[str] = set()  # headers whose env answered the probe on this worker's REPL
        self.rss_checked = 0.0

    def _drop(self) -> None:
        self.pool._sched.release(self)
        self.headers = {}
        self.probed = set()
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
            repl = self.pool._make_repl()
            try:
                repl.start()
            except ReplFault as f:
                if f.kind == "start":
                    raise StartFailed(f.detail, hdr.NEXT_STEP_START) from None
                raise
            self.repl = repl
            self.pool.started += 1
        return self.repl

    def header_env(self, header: str) -> tuple[int | None, float]:
        """The env of ``header`` on this worker, elaborating it first if needed; (env, seconds spent).

        Where the REPL reports the header's errors (REPLs of the v4.14 era on) they decide here. REPL
        v4.9.0 drops them, so a header whose imports failed looks fine until its env is used: see
        ``probe``.
        """
        # recycle first (request count, memory): a header env of a REPL about to be replaced is no env
        # (without this the body went to the new REPL with the old env number, was refused, and retried)
        self.fresh()
        if header in self.headers:
            return self.headers[header], 0.0
        text = self.pool.header_text(header)
        if not text.strip():
            self.headers[header] = None
            self.probed.add(header)
            return None, 0.0
        t0 = time.monotonic()
        resp = self.send(Command(cmd=text), self.pool.limits.header_timeout, what="header")
        spent = time.monotonic() - t0
        if isinstance(resp, ReplError):
            raise HeaderFailed(resp.message)
        assert isinstance(resp, CommandResponse)
        why = hdr.header_errors(resp)
        if why is not None:
            raise HeaderFailed(why)
        self.headers[header] = resp.env
        self.pool._sched.timed(header, spent, None)
        return resp.env, spent

    def probe(self, header: str, env: int | None) -> None:
        """Ask the header's env something every loaded env answers (``bridge.lean.header``); raise
        HeaderFailed when it cannot. Run once per header and worker, and only when a body came back
        with errors: the order of requests stays header, body, ... as the protocol contract says."""
        if header in self.probed:
            return
        why = hdr.header_probe_failure(self.send(Command(cmd=hdr.HEADER_PROBE, env=env),
                                                 self.pool.limits.header_timeout))
        if why is not None:
            self.headers.pop(header, None)
            raise HeaderFailed(why)
        self.probed.add(header)

    def send(self, req: Command, timeout: float, what: str = "body") -> Any:
        repl = self.fresh()
        first = repl.stats.requests == 0
        try:
            return repl.send(req, timeout)
        except ReplFault as f:
            if first and f.silent and f.kind == "crashed":
                self._diagnose_start(f, what)  # raises StartFailed, or HeaderFailed when the header killed it
            raise

    def _diagnose_start(self, fault: ReplFault, what: str) -> None:
        """A fresh REPL died on its first request without a word on stdout: can a REPL start at all?"""
        evidence = fault.evidence or (self.repl._evidence() if self.repl else "")
        cmdline = self.repl.command_line() if self.repl else "?"
        self._drop()
        probe = self.pool._make_repl()
        try:
            probe.start()
            probe.send(Command(cmd=hdr.START_PROBE), self.pool.limits.header_timeout)
        except ReplFault as f2:
            # the cause first (its stderr), the command line last: inside the sandbox it is ~2,000 characters
            raise StartFailed("the REPL could not start: it exited before answering anything"
                              + (f" ({evidence})" if evidence else "")
                              + ("" if f2.silent or f2.kind == "start" else f"; a second start: {f2.detail}")
                              + f"; command: `{cmdline}`",
                              hdr.NEXT_STEP_START) from None
        finally:
            probe.kill()
        if what != "header":
            return  # the REPL starts; this request is what killed it: an ordinary crash
        raise HeaderFailed("the header crashed the REPL, which starts and answers without it"
                           + (f" ({evidence})" if evidence else ""))

    def command(self, cmd: str, env: int | None, timeout: float) -> CommandResponse:
        resp = self.send(Command(cmd=cmd, env=env), timeout)
        if isinstance(resp, ReplError):
            raise ReplFault("crashed", f"the REPL refused the command: {resp.message}")
        assert isinstance(resp, CommandResponse)
        return resp


class Pool:
    """``with Pool(repl_factory, workers=4) as pool: for outcome in pool.run(jobs): ...``

    ``finish(outcome)``, if given, runs in the worker for every outcome; its value is ``outcome.result``.
    ``review(outcome)`` (run in the worker, after a clean check) returns KEEP, RECYCLE (replace the
    worker after this job: e.g. a rejected candidate, whose code may have changed its process) or
    RETRY (throw this attempt away and check the job again on a fresh worker: an answer that no
    honest REPL gives, i.e. a worker some earlier candidate may have taken over).
    """

    def __init__(
        self,
        repl_factory: Callable[[], Repl],
        workers: int = 1,
        limits: PoolLimits | None = None,
        needs_followup: Callable[[Job, CommandResponse], bool] | None = None,
        review: Callable[[Outcome], str] | None = None,
        finish: Callable[[Outcome], Any] | None = None,
    ):
        self._make_repl = repl_factory
        self.n_workers = max(1, workers)
        self.limits = limits or PoolLimits()
        self.needs_followup = needs_followup or (lambda job, r: True)
        self.probe_headers = needs_followup is not None  # only a caller that tells clean bodies apart
        self.review = review
        self.finish = finish  # e.g. the verdict, decided (and strict-checked) in parallel in the workers
        self._sched = _Scheduler(self.limits.queue_size)
        self._results: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self.header_errors: dict[str, str] = {}
        self._references: dict[str, CommandResponse] = {}
        self._ref_lock = threading.Lock()
        self._ref_worker: _Worker | None = None
        self.start_error: StartFailed | None = None
        self.started = 0  # REPL processes started, for tests and benchmarks
        self._busy = False
        self.stopping = False

    def header_text(self, header: str) -> str:
        if self.limits.max_heartbeats is not None:
            return header.rstrip("\n") + f"\n\nset_option maxHeartbeats {self.limits.max_heartbeats}\n"
        return header

    # -- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self, grace: float = 3.0) -> None:
        """Stop early (Ctrl-C): read no more jobs, hand back the waiting ones as ``cancelled``, let the
        checks in flight finish for ``grace`` seconds, then kill their REPLs (they come back cancelled).
        Safe from a signal handler and from any thread; ``run`` then ends without raising."""
        if self.stopping:
            return
        self.stopping = True
        for job in self._sched.drain():
            self._results.put(Outcome(job, "cancelled", attempts=0))
        self._results.put(None)
        timer = threading.Timer(grace, self._terminate_all)
        timer.daemon = True
        timer.start()

    def _terminate_all(self) -> None:
        for w in [*self._workers, self._ref_worker]:
            r = w.repl if w is not None else None
            if r is not None:
                r.terminate()

    def close(self) -> None:
        self._sched.close()
        if self.stopping:
            self._terminate_all()
        for t in self._threads:
            t.join(timeout=10)
        for w in self._workers:
            w._drop()
        with self._ref_lock:
            if self._ref_worker is not None:
                self._ref_worker._drop()
                self._ref_worker = None
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
        the jobs read before it has been yielded, so nothing already done is lost. A REPL that cannot
        start raises :class:`StartFailed` after the outcomes already finished.
        """
        if self._busy:
            raise RuntimeError("Pool.run is already running")
        self._busy = True
        self.start_error = None
        self._start_workers()
        if self._inline:
            # One worker: the consuming thread is the worker and reads the jobs itself. No feeder, no
            # queue, no thread hand-off per result (measured in benchmarks/bench_overhead.py), and
            # nothing is lost to overlap: one worker checks one job at a time anyway.
            w = self._workers[0]
            try:
                for job in jobs:
                    if self.stopping:
                        break
                    job.submitted = time.monotonic()
                    if not job.precomputed:
                        self._sched.claim(w, job.header)
                    yield self._handle(w, job)
            finally:
                self._busy = False
                self.close()
            return
        state: dict[str, Any] = {"submitted": 0, "done": False, "error": None}

        def feed() -> None:
            try:
                for job in jobs:
                    if self.stopping:
                        break
                    job.submitted = time.monotonic()
                    if job.precomputed:  # decided already: straight to the consumer, no worker needed
                        with self._lock:
                            state["submitted"] += 1
                        self._results.put(Outcome(job, "precomputed", attempts=0))
                        continue
                    with self._lock:
                        state["submitted"] += 1
                    if not self._sched.put(job):
                        with self._lock:
                            state["submitted"] -= 1
                        break  # the consumer stopped early: read no further
                    if self.stopping:  # stop() drained the queue before this job arrived
                        for j in self._sched.drain():
                            self._results.put(Outcome(j, "cancelled", attempts=0))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                state["error"] = e
            finally:
                with self._lock:
                    state["done"] = True
                self._results.put(None)  # wake the consumer

        feeder = threading.Thread(target=feed, name="bridge-feeder", daemon=True)
        feeder.start()
        got = 0
        try:
            while True:
                with self._lock:
                    if self.start_error is not None or (state["done"] and got >= state["submitted"]):
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
        if self.start_error is not None:
            raise self.start_error
        if state["error"] is not None:
            raise state["error"]

    def _handle(self, w: _Worker, job: Job) -> Outcome:
        if job.precomputed:
            return Outcome(job, "precomputed", attempts=0)
        if self.stopping:
            return Outcome(job, "cancelled", attempts=0)
        try:
            out = self._process(w, job)
        except StartFailed:
            raise
        except Exception as e:  # noqa: BLE001 - a bug here must not lose the job
            w._drop()
            out = Outcome(job, "crashed", detail=f"internal error: {e!r}")
        if self.stopping and out.status in ("timeout", "crashed"):
            return Outcome(job, "cancelled", attempts=out.attempts)  # killed by stop(), not decided
        if self.finish is not None:
            out.result = self.finish(out)
        return out

    def _work(self, w: _Worker) -> None:
        while (job := self._sched.get(w)) is not None:
            try:
                out = self._handle(w, job)
            except StartFailed as e:
                with self._lock:
                    if self.start_error is None:
                        self.start_error = e
                self._sched.close()
                self._results.put(None)
                return
            self._results.put(out)

    def _reference(self, header: str, key: str, cmd: str, check: str) -> CommandResponse:
        """The reference statement's answer, from the reference process (never runs candidate code)."""
        with self._lock:
            known = self._references.get(key)
        if known is not None:
            return known
        with self._ref_lock:
            known = self._references.get(key)
            if known is not None:
                return known
            if self._ref_worker is None:
                self._ref_worker = _Worker(-1, self)
            rw = self._ref_worker
            try:
                env, _ = rw.header_env(header)
                r1 = rw.command(cmd, env, self.limits.timeout)
                if r1.errors:
                    rw.probe(header, env)  # the reference's errors may only mean that the imports failed
                r2 = rw.command(check, r1.env, self.limits.timeout)
            except (ReplFault, HeaderFailed):
                rw._drop()
                raise
            with self._lock:
                self._references[key] = r2
            return r2

    def _process(self, w: _Worker, job: Job) -> Outcome:
        lim = self.limits
        queued = time.monotonic() - job.submitted
        fault: ReplFault | None = None
        header_faults = 0
        retried_for: str | None = None
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
                clean = self.needs_followup(job, body)
                if not clean and self.probe_headers:
                    w.probe(job.header, env)  # an error may only mean that the header's imports failed
                if job.followup and clean:
                    follow = w.command(job.followup, body.env, lim.timeout)
                    if job.reference is not None:
                        ref = self._reference(job.header, *job.reference)
                check_s = time.monotonic() - t0
                self._sched.timed(None, None, check_s)
                out = Outcome(job, "ok", body=body, followup=follow, reference=ref, attempts=attempt,
                              timings={"queued": queued, "header": header_s, "check": check_s},
                              retried_for=retried_for)
                action = self.review(out) if self.review is not None else KEEP
                if action == RETRY and attempt <= lim.retries:
                    retried_for = "an answer no honest REPL gives (the worker was replaced)"
                    w._drop()
                    continue
                if action in (RETRY, RECYCLE):
                    w._drop()
                return out
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
                if self.stopping:
                    break
        assert fault is not None
        status = "timeout" if fault.kind == "timeout" else "crashed"
        return Outcome(job, status, detail=fault.detail, evidence=fault.evidence, attempts=attempt,
                       timings={"queued": queued, "header": 0.0, "check": 0.0})
