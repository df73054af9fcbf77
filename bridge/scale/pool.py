"""The verification pool on a Ray cluster: the interface of :class:`bridge.lean.pool.Pool`.

``with RayPool(cfg, actors=8, ...) as pool: for outcome in pool.run(jobs): ...`` yields every job's
:class:`~bridge.lean.pool.Outcome` exactly once, as it finishes, as the local pool does; ``stop(grace)``
and ``close()`` behave the same. Only the construction differs: a REPL factory cannot travel to another
machine, so the pool is given the configuration and each actor builds its worker from it on its node.

The driver (this process) reads the jobs, streams each to a free actor by header affinity (the local
scheduler's rule, :func:`bridge.scale.policy.choose_header`), several jobs per call (up to ``batch``:
one submission and one answer per call, so the driver's CPU per candidate falls), keeping up to
``depth`` calls queued at each actor so none waits on a round trip, and streams outcomes back. ``finish`` (the verdict) runs here, in
the consuming thread; the result cache and the run store are the caller's, on the driver, and no actor
is given either. An actor that dies, or stops answering its pings, is killed and replaced: the job it
was running (each job of the call it was running) is resubmitted once, alone, on a fresh REPL, and the
jobs queued behind it go back to the queue (:func:`bridge.scale.policy.after_loss`).

With ``address="local"`` the pool starts a Ray instance of its own on this machine and ends it: at
:meth:`close` (normal end, error, Ctrl-C, and at exit), after ``ray.shutdown()``, every process of that
instance still there (Ray workers lead their own process groups, so ending the run's group does not reach
them), every REPL an actor reported and every process started with this run's tag (``RUN_TAG`` in its
environment) is killed by pid (and start time, so a reused pid is never hit). An actor lost mid-run has
its REPL (an orphan in a session of its own) ended at once.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.config import BridgeConfig
from bridge.errors import SetupError
from bridge.lean.pool import Job, Outcome, PoolLimits, StartFailed
from bridge.lean.procs import descendants, end_processes, proc_start, tagged
from bridge.lean.protocol import CommandResponse
from bridge.scale import policy
from bridge.scale.nodes import NodeReport, connect, probe_cluster
from bridge.scale.worker import Reply, WorkerSetup, actor_config

# set in the environment ``ray.init`` starts a local instance with: every process of it (GCS, raylet, workers,
# the REPLs those start) inherits it, so the pool finds them all at the end, orphans and new sessions too
RUN_TAG = "BRIDGE_RAY_RUN"
NEXT_STEP_CLUSTER = "run `bridge doctor --ray ADDRESS`: it says what each node lacks"


class ClusterLost(SetupError):
    """No actor is left and none can be started: the jobs not yet answered cannot be checked."""


@dataclass(eq=False)
class _Ticket:
    """One job on its way: read at ``read_at`` (driver clock), lost ``losses`` times with an actor."""

    job: Job
    read_at: float
    losses: int = 0
    reasons: list[str] = field(default_factory=list)
    alone: bool = False  # resubmitted after a loss: runs alone, on a fresh REPL
    ref: Any = None


@dataclass(eq=False)
class _Call:
    """One call to an actor: its jobs, checked there in this order, answered together."""

    ref: Any
    tickets: list[_Ticket]


@dataclass(eq=False)
class _Slot:
    """The driver's view of one actor."""

    index: int
    handle: Any
    node_id: str
    claimed: set[str] = field(default_factory=set)  # headers its worker has or is loading
    inflight: list[_Ticket] = field(default_factory=list)  # submission order = the actor's order
    calls: list[_Call] = field(default_factory=list)  # the same jobs, as sent
    repl: tuple[int, str] | None = None  # its REPL as last reported: (pid, start time)
    ready: bool = False
    created: float = 0.0
    alive: bool = True
    checked: int = 0
    busy_since: float = 0.0  # when the job at the head of ``inflight`` could start
    ping_ref: Any = None
    ping_sent: float | None = None
    last_ping: float | None = None
    started: int = 0  # REPLs it started


class RayPool:
    """A :class:`~bridge.lean.pool.Pool` whose workers are Ray actors (see the module docstring).

    ``actors``: how many (0: one per CPU of the usable nodes). ``address``: the cluster (None: Ray's
    default, "local": start one here); a process already connected (``ray.init`` earlier) keeps its
    connection. ``expect``: the driver's (Lean version, manifest hash), which every node must match.
    ``needs_followup`` and ``review`` run in the actors, so they must pickle; ``finish`` runs here.
    """

    def __init__(
        self,
        cfg: BridgeConfig,
        *,
        actors: int = 0,
        limits: PoolLimits | None = None,
        needs_followup: Callable[[Job, CommandResponse], bool] | None = None,
        review: Callable[[Outcome], str] | None = None,
        finish: Callable[[Outcome], Any] | None = None,
        address: str | None = None,
        expect: tuple[str, str] | None = None,
        depth: int = 2,
        batch: int = 8,
        ping_timeout: float = 30.0,
        ready_timeout: float = 300.0,
        runtime_env: dict[str, Any] | None = None,
    ):
        self.cfg = cfg
        self.n_workers = max(0, actors)
        self.limits = limits or PoolLimits()
        self.needs_followup = needs_followup
        self.review = review
        self.finish = finish
        self.address = address
        self.expect = expect
        self.depth = max(1, depth)
        self.batch = max(1, batch)
        self.ping_timeout = ping_timeout
        self.ready_timeout = ready_timeout
        self.runtime_env = runtime_env
        self.header_errors: dict[str, str] = {}
        self.nodes: list[NodeReport] = []
        self.unused_nodes: dict[str, str] = {}  # node id -> why it is not used
        self.resubmitted = 0  # jobs resubmitted after their actor was lost
        self.actors_lost = 0
        self.start_error: StartFailed | None = None
        self.stopping = False
        self._closing = False
        self._busy = False
        self._connected = False
        self._local = False  # this pool started the Ray instance (address "local"): it ends its processes
        self._tag = ""  # RUN_TAG's value for the instance this pool started
        self._slots: list[_Slot] = []
        self._refs: dict[str, Any] = {}  # node id -> its reference actor
        self._by_ref: dict[Any, tuple[_Slot, _Ticket]] = {}
        self._pings: dict[Any, _Slot] = {}
        self._readies: dict[Any, _Slot] = {}
        self._waiting: dict[str, collections.deque[_Ticket]] = {}
        self._n_waiting = 0
        self._alone: collections.deque[_Ticket] = collections.deque()
        self._costs = policy.Costs()
        self._intake: queue.Queue[_Ticket | None] = queue.Queue(maxsize=max(1, self.limits.queue_size))
        self._results: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._fatal: BaseException | None = None
        self._feed_error: BaseException | None = None
        self._replacements_left = 0
        self._setup: WorkerSetup | None = None
        self._actor_pids: list[int] = []

    # -- what the local pool also has ----------------------------------------------------------------

    @property
    def started(self) -> int:
        """REPL processes started by the actors (as far as their answers have said)."""
        return sum(s.started for s in self._slots)

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self, grace: float = 3.0) -> None:
        """Stop early (Ctrl-C): read no more jobs, hand back the waiting ones as ``cancelled``, let the
        checks in flight finish for ``grace`` seconds, then kill the actors (those come back cancelled).
        Only sets flags and a timer: safe from a signal handler."""
        if self.stopping:
            return
        self.stopping = True
        timer = threading.Timer(grace, self._kill_all)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        self._closing = True
        self._shutdown_actors()
        if self._connected:
            import ray

            procs = self._instance_processes() if self._local else []
            ray.shutdown()
            self._connected = False
            if self._local:
                known = procs + [s.repl for s in self._slots if s.repl is not None]
                end_processes(known + [(pid, start) for pid, start, _ in tagged(RUN_TAG, self._tag)])
                self._local = False

    def _instance_processes(self) -> list[tuple[int, str]]:
        """Every process of the Ray instance this pool started (GCS, raylet, their workers, the REPLs of
        those), as (pid, start time), read before ``ray.shutdown()`` ends what it knows of."""
        try:
            from ray._private import worker as ray_worker

            node = ray_worker._global_node
            roots = [pi.process.pid for infos in node.all_processes.values() for pi in infos
                     if getattr(pi, "process", None) is not None]
        except Exception:  # noqa: BLE001 - Ray's internals moved: fall back to the actors we know
            roots = []
        roots += [pid for pid in self._actor_pids if pid]
        out = []
        for pid in dict.fromkeys([p for r in roots for p in (r, *descendants(r))]):
            start = proc_start(pid)
            if start is not None and pid != os.getpid():
                out.append((pid, start))
        return out

    # -- start ---------------------------------------------------------------------------------------

    def _start(self) -> None:
        import ray

        from bridge.scale.actors import CheckActor, ReferenceActor

        if self.address == "local":
            self._tag = f"{os.getpid()}-{uuid.uuid4().hex}"
            before = os.environ.get(RUN_TAG)
            os.environ[RUN_TAG] = self._tag  # only while the instance starts: what we start later lacks it
            try:
                self._connected = connect(self.address)
            finally:
                if before is None:
                    os.environ.pop(RUN_TAG, None)
                else:
                    os.environ[RUN_TAG] = before
            self._local = self._connected
            if self._local:
                atexit.register(self.close)  # a run that ends without close() still ends its instance
        else:
            self._connected = connect(self.address)
        if self.expect is None:
            from bridge.lean.project import repl_launch

            launch = repl_launch(self.cfg)
            self.expect = (launch.lean_version, launch.manifest_hash)
        self.nodes = probe_cluster(self.cfg, *self.expect, runtime_env=self.runtime_env)
        for n in self.nodes:
            if not n.usable and n.alive:
                self.unused_nodes[n.node_id] = n.why
                warnings.warn(f"Ray node {n.address} ({n.node_id[:12]}) is not used: {n.why}", stacklevel=3)
        slots = [policy.NodeSlot(n.node_id, n.cpus, n.usable) for n in self.nodes]
        if not any(s.usable for s in slots):
            raise StartFailed("no node of the Ray cluster can check candidates: "
                              + "; ".join(f"{n.address}: {n.why}" for n in self.nodes), NEXT_STEP_CLUSTER)
        want = self.n_workers or policy.auto_actors(slots)
        placed = policy.place_actors(slots, want)
        if len(placed) < want:
            warnings.warn(f"{want} actors asked for, but the usable nodes offer {len(placed)} CPU(s): "
                          f"starting {len(placed)}", stacklevel=3)
        self._setup = WorkerSetup(actor_config(self.cfg), self.limits, self.expect[0], self.expect[1],
                                  self.needs_followup, self.review)
        self._actor_cls, self._ref_cls = CheckActor, ReferenceActor
        for nid in dict.fromkeys(placed):
            self._refs[nid] = self._options(ReferenceActor, nid, num_cpus=0, max_restarts=-1,
                                            max_task_retries=2).remote(self._setup)
        for nid in placed:
            self._new_slot(nid)
        self._replacements_left = 2 * len(placed) + 2
        self.n_workers = len(placed)
        # every actor answers before the first job: a node that cannot build its worker stops the run here
        refs = list(self._readies)
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=self.ready_timeout)
        for ref in refs:
            slot = self._readies.pop(ref)
            if ref not in done:
                raise StartFailed(f"a Ray actor on node {slot.node_id[:12]} did not start within "
                                  f"{self.ready_timeout:g}s", NEXT_STEP_CLUSTER)
            try:
                self._actor_pids.append(ray.get(ref))
            except ray.exceptions.RayError as e:
                raise StartFailed(f"a Ray actor could not start its worker: {_cause(e)}", NEXT_STEP_CLUSTER) from None
            slot.ready = True

    def _options(self, cls: Any, node_id: str, **kw: Any) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        opts = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False), **kw}
        if self.runtime_env is not None:
            opts["runtime_env"] = self.runtime_env
        return cls.options(**opts)

    def _new_slot(self, node_id: str) -> _Slot:
        handle = self._options(self._actor_cls, node_id, num_cpus=1, max_restarts=0,
                               max_task_retries=0).remote(self._setup, self._refs.get(node_id))
        slot = _Slot(len(self._slots), handle, node_id, created=time.monotonic())
        self._slots.append(slot)
        self._readies[handle.ready.remote()] = slot
        return slot

    # -- running -------------------------------------------------------------------------------------

    def run(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Check every job; yield each outcome as it finishes (not in input order).

        As :meth:`bridge.lean.pool.Pool.run`: an exception raised by ``jobs`` is re-raised after the
        outcomes of the jobs read before it; a REPL that cannot start raises :class:`StartFailed` after
        the outcomes already finished; so does a cluster with no usable node, or none left.
        """
        if self._busy:
            raise RuntimeError("RayPool.run is already running")
        self._busy = True
        try:
            if self.stopping:
                return
            try:
                self._start()
            except BaseException:
                self.close()
                raise
            feeder = threading.Thread(target=self._feed, args=(jobs,), name="bridge-ray-feeder", daemon=True)
            driver = threading.Thread(target=self._drive, name="bridge-ray-driver", daemon=True)
            feeder.start()
            driver.start()
            try:
                while (out := self._results.get()) is not None:
                    if self.finish is not None and out.status in ("ok", "timeout", "crashed", "setup_error"):
                        out.result = self.finish(out)  # the verdict, decided here on the driver
                    yield out
            finally:
                self._closing = True
                driver.join(timeout=30)
                feeder.join(timeout=10)
                self.close()
            if self._fatal is not None:
                raise self._fatal
            if self.start_error is not None:
                raise self.start_error
            if self._feed_error is not None:
                raise self._feed_error
        finally:
            self._busy = False

    def _feed(self, jobs: Iterable[Job]) -> None:
        try:
            for job in jobs:
                if self.stopping or self._closing:
                    break
                job.submitted = time.monotonic()
                if job.precomputed:  # decided already (screen, cache): straight to the consumer
                    self._results.put(Outcome(job, "precomputed", attempts=0))
                    continue
                t = _Ticket(job, job.submitted)
                while not self._put(t):
                    if self.stopping or self._closing:
                        self._results.put(Outcome(job, "cancelled", attempts=0))
                        return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._feed_error = e
        finally:
            self._intake_put(None)

    def _put(self, item: _Ticket | None) -> bool:
        try:
            self._intake.put(item, timeout=0.1)
            return True
        except queue.Full:
            return False

    def _intake_put(self, item: None) -> None:
        # the driver drains the intake until it sees this end mark, unless the consumer has left
        while not self._put(item) and not self._closing:
            pass

    def _drive(self) -> None:
        try:
            self._loop()
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._fatal = e
        finally:
            self._results.put(None)  # close() then shuts the actors down (their REPLs, their files)

    def _loop(self) -> None:
        import ray

        fed = False
        while True:
            now = time.monotonic()
            fed = self._take_intake(block=False) or fed
            if self.stopping or self._closing:
                self._cancel_waiting()
            if self._closing or self.start_error is not None:
                return
            self._dispatch(now)
            waits = [*self._by_ref, *self._pings, *self._readies]
            if fed and not self._n_waiting and not self._alone and not self._by_ref:
                return
            if (self._n_waiting or self._alone) and not any(s.alive for s in self._slots):
                raise ClusterLost("every Ray actor was lost and no more can be started: "
                                  f"{self._n_waiting + len(self._alone)} job(s) have no verdict", NEXT_STEP_CLUSTER)
            if not waits:
                fed = self._take_intake(block=True) or fed
                continue
            # short waits only while an actor has room and more input may come; else until an answer
            idle = not fed and not self._n_waiting and any(self._room(s) for s in self._slots)
            ready, rest = ray.wait(waits, num_returns=1, timeout=0.005 if idle else 0.2)
            if ready and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                self._answer(ref)
            self._watch(time.monotonic())

    def _take_intake(self, block: bool) -> bool:
        """Move jobs from the feeder into the waiting queues (as many as ``queue_size``); True at the end mark."""
        end = False
        while self._n_waiting < self.limits.queue_size:
            try:
                item = self._intake.get(timeout=0.05) if block else self._intake.get_nowait()
            except queue.Empty:
                break
            block = False
            if item is None:
                end = True
                break
            self._enqueue(item)
        return end

    def _enqueue(self, t: _Ticket, front: bool = False) -> None:
        q = self._waiting.setdefault(t.job.header, collections.deque())
        q.appendleft(t) if front else q.append(t)
        self._n_waiting += 1

    def _cancel_waiting(self) -> None:
        for q in self._waiting.values():
            while q:
                self._results.put(Outcome(q.popleft().job, "cancelled", attempts=0))
        while self._alone:
            t = self._alone.popleft()
            self._results.put(Outcome(t.job, "cancelled", attempts=t.losses))
        self._n_waiting = 0
        while True:  # and whatever the feeder had already handed over
            try:
                item = self._intake.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self._intake.put(None)  # keep the end mark for the loop
                return
            self._results.put(Outcome(item.job, "cancelled", attempts=0))

    def _room(self, s: _Slot) -> bool:
        if not (s.alive and s.ready) or len(s.calls) >= self.depth:
            return False
        return not any(t.alone for c in s.calls for t in c.tickets)

    def _dispatch(self, now: float) -> None:
        if self.stopping or self._closing:
            return
        # a job resubmitted after a loss: alone on an idle actor, the freshest first
        while self._alone:
            idle = [s for s in self._slots if s.alive and s.ready and not s.calls]
            if not idle:
                break
            slot = min(idle, key=lambda s: s.checked)
            self._submit(slot, [self._alone.popleft()], now, fresh=True)
        if not self._n_waiting:
            return
        loaded: collections.Counter[str] = collections.Counter()
        for s in self._slots:
            if s.alive:
                loaded.update(s.claimed)
        counts = {h: len(q) for h, q in self._waiting.items() if q}
        placed = True
        while placed and counts:  # one call per actor a round: two waiting jobs go to two idle actors
            placed = False
            rooms = sorted((s for s in self._slots if self._room(s)), key=lambda s: len(s.calls))
            free_calls = sum(self.depth - len(s.calls) for s in rooms)
            for slot in rooms:
                if not counts:
                    break
                h = policy.choose_header(slot.claimed, counts, loaded, self._costs)
                if h is None:
                    continue
                placed = True
                take = min(counts[h], policy.batch_size(self._n_waiting, free_calls, self.batch))
                free_calls -= 1
                tickets = []
                for _ in range(take):
                    t = self._waiting[h].popleft()
                    self._n_waiting -= 1
                    counts[h] -= 1
                    if h in self.header_errors:  # a header already known not to load: as the local pool answers
                        self._results.put(Outcome(t.job, "setup_error", detail=self.header_errors[h], attempts=1,
                                                  timings={"queued": now - t.read_at, "header": 0.0, "check": 0.0}))
                        continue
                    tickets.append(t)
                if not counts[h]:
                    del counts[h]
                if not tickets:
                    continue
                if h not in slot.claimed:
                    slot.claimed.add(h)
                    loaded[h] += 1
                self._submit(slot, tickets, now)

    def _submit(self, slot: _Slot, tickets: list[_Ticket], now: float, fresh: bool = False) -> None:
        if not slot.calls:
            slot.busy_since = now
        ref = slot.handle.check_batch.remote([t.job for t in tickets], fresh)
        call = _Call(ref, tickets)
        for t in tickets:
            t.ref = ref
        slot.calls.append(call)
        slot.inflight.extend(tickets)
        self._by_ref[ref] = (slot, call)

    # -- answers -------------------------------------------------------------------------------------

    def _answer(self, ref: Any) -> None:
        import ray

        if ref in self._readies:
            slot = self._readies.pop(ref)
            try:
                self._actor_pids.append(ray.get(ref))
                slot.ready = True
            except ray.exceptions.RayError as e:  # a replacement that could not start: nothing was lost
                self._lose(slot, f"its replacement actor did not start: {_cause(e)}")
            return
        if ref in self._pings:
            slot = self._pings.pop(ref)
            slot.ping_ref = slot.ping_sent = None
            try:
                ray.get(ref)
                slot.last_ping = time.monotonic()
            except ray.exceptions.RayError as e:
                self._lose(slot, f"its actor died ({_cause(e)})")
            return
        entry = self._by_ref.pop(ref, None)
        if entry is None:
            return
        slot, call = entry
        try:
            replies: list[Reply] = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            self._by_ref[ref] = entry  # _lose places it with the rest of that actor's jobs
            self._lose(slot, f"its actor died ({_cause(e)})")
            return
        except ray.exceptions.RayTaskError as e:
            # the actor's method itself failed (a bug): these jobs' answer, as the local pool gives it
            self._call_done(slot, call)
            for t in call.tickets:
                self._done(slot, t, None)
                self._results.put(Outcome(t.job, "crashed", detail=f"internal error on a Ray actor: {_cause(e)}"))
            return
        except ray.exceptions.RayError as e:  # the actor, its node or the object is gone
            self._by_ref[ref] = entry
            self._lose(slot, f"its actor died ({_cause(e)})")
            return
        self._call_done(slot, call)
        self._answered(slot, call, replies)

    def _call_done(self, slot: _Slot, call: _Call) -> None:
        if call in slot.calls:
            slot.calls.remove(call)

    def _answered(self, slot: _Slot, call: _Call, replies: list[Reply]) -> None:
        for t, reply in zip(call.tickets, replies, strict=False):
            self._done(slot, t, reply)
            self._deliver(t, reply)
        for t in call.tickets[len(replies):]:  # after a start failure the actor stopped: not checked
            if t in slot.inflight:
                slot.inflight.remove(t)
            self._enqueue(t, front=True)

    def _done(self, slot: _Slot, t: _Ticket, reply: Reply | None) -> None:
        if t in slot.inflight:
            slot.inflight.remove(t)
        slot.checked += 1
        slot.busy_since = time.monotonic()
        if reply is not None:
            slot.started = max(slot.started, reply.started)
            slot.repl = reply.repl or slot.repl
            slot.claimed = set(reply.claimed) | {x.job.header for x in slot.inflight}

    def _deliver(self, t: _Ticket, reply: Reply) -> None:
        if reply.start_failed is not None:
            if self.start_error is None:
                self.start_error = StartFailed(*reply.start_failed)
            return
        out = reply.outcome
        assert out is not None
        out.job = t.job
        out.attempts += t.losses  # tries on actors that were lost count as tries
        spent = out.timings.get("header", 0.0) + out.timings.get("check", 0.0)
        out.timings["queued"] = max(0.0, time.monotonic() - t.read_at - spent)  # waiting and travel, driver clock
        if out.status == "ok":
            self._costs = policy.timed(self._costs, t.job.header, out.timings.get("header"), out.timings.get("check"))
        elif out.status == "setup_error":
            self.header_errors.setdefault(t.job.header, out.detail)
        if self.stopping and out.status in ("timeout", "crashed"):
            out = Outcome(t.job, "cancelled", attempts=out.attempts)  # killed by stop(), not decided
        self._results.put(out)

    def _lose(self, slot: _Slot, reason: str) -> None:
        """The actor is gone (or given up on): kill it, answer what it had finished, place what it had not,
        and start a replacement."""
        import ray

        if not slot.alive:
            return
        slot.alive = False
        self.actors_lost += 1
        try:
            ray.kill(slot.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        if slot.ping_ref is not None:
            self._pings.pop(slot.ping_ref, None)
        for r in [r for r, s in self._readies.items() if s is slot]:
            self._readies.pop(r)
        if self._local:
            self._end_orphans(slot)
        calls, slot.calls, slot.inflight = slot.calls, [], []
        first_unanswered = True
        for call in calls:
            self._by_ref.pop(call.ref, None)
            try:  # a call that finished before the actor went has its answers already
                replies = ray.get(call.ref, timeout=0)
            except Exception:  # noqa: BLE001 - lost with the actor
                replies = None
            if isinstance(replies, list):
                for t, reply in zip(call.tickets, replies, strict=False):
                    self._deliver(t, reply)
                for t in call.tickets[len(replies):]:
                    self._enqueue(t, front=True)
                continue
            running, first_unanswered = first_unanswered, False
            for t in call.tickets:
                self._place_lost(t, running, reason)
        if not (self.stopping or self._closing):
            self._replace(slot)

    def _end_orphans(self, slot: _Slot) -> None:
        """The lost actor's REPL leads a session of its own, so the actor's death does not end it: by the
        pid it reported, and any process of this instance whose parent is gone (reparented away)."""
        mine = tagged(RUN_TAG, self._tag)
        pids = {pid for pid, _, _ in mine}
        orphans = [(pid, start) for pid, start, ppid in mine if ppid not in pids and ppid != os.getpid()]
        end_processes(([slot.repl] if slot.repl is not None else []) + orphans, grace=0)

    def _place_lost(self, t: _Ticket, running: bool, reason: str) -> None:
        """A job lost with its actor: cancelled (stopping), back to the queue, resubmitted alone, or crashed."""
        if self.stopping:
            self._results.put(Outcome(t.job, "cancelled", attempts=t.losses))
            return
        decision = policy.after_loss(policy.LostJob(t.losses, running))
        if decision == policy.REQUEUE:
            self._enqueue(t, front=True)
            return
        t.losses += 1
        t.reasons.append(reason)
        if decision == policy.RESUBMIT_ALONE:
            t.alone = True
            self.resubmitted += 1
            self._alone.append(t)
        else:
            self._results.put(Outcome(t.job, "crashed", attempts=t.losses,
                                      detail=f"lost with {t.losses} Ray actors: " + "; ".join(t.reasons),
                                      timings={"queued": time.monotonic() - t.read_at, "header": 0.0,
                                               "check": 0.0}))

    def _replace(self, dead: _Slot) -> None:
        if self._replacements_left <= 0:
            return
        import ray

        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        taken = collections.Counter(s.node_id for s in self._slots if s.alive)
        # its own node first (its page cache holds the .olean files), else the least loaded usable one
        nodes = sorted((policy.NodeSlot(n.node_id, n.cpus, n.usable and n.node_id in alive) for n in self.nodes),
                       key=lambda n: n.node_id != dead.node_id)
        mine = [n for n in nodes if n.node_id == dead.node_id and n.usable]
        placed = policy.place_actors(mine, 1, taken) or policy.place_actors(nodes, 1, taken)
        if not placed:
            return
        self._replacements_left -= 1
        nid = placed[0]
        if nid not in self._refs:
            self._refs[nid] = self._options(self._ref_cls, nid, num_cpus=0, max_restarts=-1,
                                            max_task_retries=2).remote(self._setup)
        self._new_slot(nid)

    def _watch(self, now: float) -> None:
        """Ping actors whose job has run long; give up on those that stop answering, or start too slowly."""
        for s in self._slots:
            if not s.alive:
                continue
            if not s.ready:
                if now - s.created > self.ready_timeout:
                    self._lose(s, f"its actor did not start within {self.ready_timeout:g}s")
                continue
            if not s.inflight:
                continue
            if s.ping_ref is None and policy.should_ping(now, s.busy_since, s.last_ping, self.limits):
                s.ping_ref, s.ping_sent = s.handle.ping.remote(), now
                self._pings[s.ping_ref] = s
            why = policy.straggling(now, s.busy_since, s.ping_sent, self.ping_timeout, self.limits,
                                    jobs=len(s.calls[0].tickets) if s.calls else 1)
            if why is not None:
                self._lose(s, why)

    # -- the end -------------------------------------------------------------------------------------

    def _kill_all(self) -> None:
        """Kill every actor now (stop()'s grace is over, or the run ended): in-flight jobs come back lost."""
        try:
            import ray
        except ImportError:  # pragma: no cover
            return
        if not ray.is_initialized():
            return
        for s in self._slots:
            if s.alive:
                try:
                    ray.kill(s.handle, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass

    def _shutdown_actors(self) -> None:
        if not self._slots and not self._refs:
            return
        import ray

        if not ray.is_initialized():
            return
        handles = [s.handle for s in self._slots if s.alive] + list(self._refs.values())
        # ask each to kill its REPLs and remove its temporary files, then kill it whatever it answered
        pending = []
        for h in handles:
            try:
                pending.append(h.shutdown.remote())
            except Exception:  # noqa: BLE001 - already gone
                pass
        if pending:
            ray.wait(pending, num_returns=len(pending), timeout=5)
        for h in handles:
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        for s in self._slots:
            s.alive = False
        self._refs = {}


def _cause(e: BaseException) -> str:
    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(e).__name__)[:300]


def limits_from(cfg: BridgeConfig) -> PoolLimits:
    """The pool limits of the configuration (as ``Verifier._pool`` builds them)."""
    from bridge.verify.api import pool_limits

    return pool_limits(cfg)


def make_verifier(config: BridgeConfig | None = None, **kw: Any) -> Any:
    """A :class:`~bridge.verify.api.Verifier` whose pool is on the Ray cluster of ``ray = ADDRESS`` when
    that is set, else the local one: how every command builds its Verifier (``verify`` knows no Ray)."""
    from bridge.config import load_config
    from bridge.verify.api import Verifier

    cfg = config or load_config()
    if cfg.ray is not None and "pool_factory" not in kw:
        kw["pool_factory"] = ray_pool_for
    return Verifier(cfg, **kw)


def ray_pool_for(verifier: Any, limits: PoolLimits | None = None, address: str | None = None,
                 **kw: Any) -> RayPool:
    """The Ray pool a :class:`~bridge.verify.api.Verifier` uses under ``ray = ADDRESS``: the same limits,
    follow-up rule, review and verdict as its local pool. ``address`` defaults to the ``ray`` setting."""
    from bridge.scale.worker import CleanBody, GateReview

    cfg = verifier.cfg
    return RayPool(cfg, actors=cfg.workers, limits=limits or limits_from(cfg), needs_followup=CleanBody(),
                   review=GateReview(verifier.options),
                   finish=lambda out: verifier.decide(out.job.payload[0], out),
                   address=address if address is not None else getattr(cfg, "ray", None),
                   expect=(verifier.launch.lean_version, verifier.launch.manifest_hash), **kw)
