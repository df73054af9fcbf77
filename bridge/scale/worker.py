"""What runs inside each Ray actor: one worker of the local pool, unchanged.

A :class:`CheckWorker` is a one-worker :class:`~bridge.lean.pool.Pool` kept open across jobs, so the
actor is exactly a worker of today's pool: a sandboxed REPL started by the same code as the local
``Verifier`` (``Verifier._repl``), the header env kept warm and reused, the memory limit, recycling after
``recycle_after`` requests, one retry on a fresh REPL for a timeout or crash, the header probe, the
review that replaces a worker after a rejected candidate or checks again after an answer no honest REPL
gives. Only the reference statements move out: a :class:`ReferenceWorker` per node (its own actor)
elaborates them in a process that never runs candidate code, as the local pool's reference process does.

Nothing here imports Ray: ``bridge.scale.actors`` wraps these classes into actors, and the tests can
drive them in-process. Nothing here opens the result cache or a run store: the driver owns both.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig
from bridge.errors import SetupError
from bridge.lean import sandbox
from bridge.lean.pool import HeaderFailed, Job, Outcome, Pool, PoolLimits, StartFailed
from bridge.lean.procs import proc_start
from bridge.lean.project import ReplLaunch, repl_launch
from bridge.lean.protocol import CommandResponse
from bridge.lean.repl import Repl, ReplFault
from bridge.verify.soundness import GateOptions
from bridge.verify.verdict import lean_clean, within

# An actor's configuration points here: it never reads or writes the result cache (the driver does).
NO_CACHE = Path("/nonexistent/bridge-actors-have-no-cache")


def actor_config(cfg: BridgeConfig) -> BridgeConfig:
    """The configuration an actor gets: the driver's, without the result cache."""
    return dataclasses.replace(cfg, use_cache=False, cache_dir=NO_CACHE)


@dataclass(frozen=True)
class CleanBody:
    """The pool's ``needs_followup`` for candidates (as ``Verifier._pool`` builds it), picklable."""

    def __call__(self, job: Job, body: CommandResponse) -> bool:
        return lean_clean(within(body, job.payload[0].span))


@dataclass(frozen=True)
class GateReview:
    """The pool's ``review`` (``Verifier.review``, which reads only ``options``), picklable: it travels
    to every actor, where the worker it judges lives."""

    options: GateOptions

    def __call__(self, out: Outcome) -> str:
        from bridge.verify.api import Verifier

        return Verifier.review(self, out)  # type: ignore[arg-type]  # the same code, with our options


@dataclass(frozen=True)
class WorkerSetup:
    """Everything an actor needs to become a pool worker; built on the driver, sent to each actor."""

    cfg: BridgeConfig  # already through actor_config
    limits: PoolLimits
    lean_version: str  # the driver's: a node with another Lean or Mathlib would give other verdicts
    manifest_hash: str
    needs_followup: Callable[[Job, CommandResponse], bool] | None = None
    review: Callable[[Outcome], str] | None = None


def node_launch(setup: WorkerSetup) -> ReplLaunch:
    """How this node starts a REPL (found here, not on the driver), refused when it is not the driver's
    Lean and Mathlib, or when the sandbox is asked for and does not work here."""
    launch = repl_launch(setup.cfg)
    if (launch.lean_version, launch.manifest_hash) != (setup.lean_version, setup.manifest_hash):
        raise SetupError(f"this node's Lean project is {launch.lean_version} (manifest {launch.manifest_hash}), "
                         f"the driver's {setup.lean_version} (manifest {setup.manifest_hash})",
                         "install the same project (same lake-manifest.json) on every node")
    if setup.cfg.sandbox:
        ok, why = sandbox.sandbox_available()
        if not ok:
            raise SetupError(f"the sandbox is not available on this node: {why}",
                             "install bubblewrap there (apt-get install bubblewrap), or leave the node out")
    return launch


@dataclass
class _ReplParts:
    """What ``Verifier._repl`` reads, so an actor starts its REPL with the very code the local pool uses."""

    cfg: BridgeConfig
    launch: ReplLaunch
    _sandboxed: bool
    _tmp: tempfile.TemporaryDirectory[str]


def private_tmp(kind: str) -> tempfile.TemporaryDirectory[str]:
    """This actor's temporary directory (the sandboxes' private ones go inside), named after its pid; first
    removing those of actors of this machine that died without cleaning up (killed, or their node lost)."""
    for d in Path(tempfile.gettempdir()).glob(f"bridge-{kind}-*-*"):
        pid = d.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)  # never follows a symlink the sandboxed code left there
    return tempfile.TemporaryDirectory(prefix=f"bridge-{kind}-{os.getpid()}-")


def repl_factory(setup: WorkerSetup, launch: ReplLaunch, tmp: tempfile.TemporaryDirectory[str]) -> Callable[[], Repl]:
    from bridge.verify.api import Verifier

    parts = _ReplParts(setup.cfg, launch, setup.cfg.sandbox, tmp)
    return lambda: Verifier._repl(parts)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RefAnswer:
    """The reference process's answer, or what went wrong, as data (an exception would cross Ray wrapped)."""

    response: CommandResponse | None = None
    fault: tuple[str, str, str] | None = None  # ReplFault: kind, detail, evidence
    header_failed: str | None = None
    start_failed: tuple[str, str | None] | None = None

    def unwrap(self) -> CommandResponse:
        if self.fault is not None:
            raise ReplFault(self.fault[0], "the reference process: " + self.fault[1], self.fault[2])
        if self.header_failed is not None:
            raise HeaderFailed(self.header_failed)
        if self.start_failed is not None:
            raise StartFailed(*self.start_failed)
        assert self.response is not None
        return self.response


class ReferenceWorker:
    """The node's reference process: a one-worker pool whose ``_reference`` (unchanged) elaborates each
    reference statement once, in a REPL that never runs candidate code."""

    def __init__(self, setup: WorkerSetup):
        launch = node_launch(setup)
        self._tmp = private_tmp("ref")
        self.pool = Pool(repl_factory(setup, launch, self._tmp), workers=1, limits=setup.limits)

    def reference(self, header: str, key: str, cmd: str, check: str) -> RefAnswer:
        try:
            return RefAnswer(response=self.pool._reference(header, key, cmd, check))
        except StartFailed as e:
            return RefAnswer(start_failed=(e.message, e.next_step))
        except ReplFault as f:
            return RefAnswer(fault=(f.kind, f.detail, f.evidence))
        except HeaderFailed as e:
            return RefAnswer(header_failed=str(e))

    def shutdown(self) -> None:
        self.pool.close()
        self._tmp.cleanup()


class _ActorPool(Pool):
    """A one-worker pool whose reference statements come from the node's reference actor (``ask``), each
    key asked once per actor."""

    def __init__(self, factory: Callable[[], Repl], limits: PoolLimits,
                 needs_followup: Callable[[Job, CommandResponse], bool] | None,
                 review: Callable[[Outcome], str] | None,
                 ask: Callable[[str, str, str, str], RefAnswer] | None):
        super().__init__(factory, workers=1, limits=limits, needs_followup=needs_followup, review=review)
        self._ask = ask

    def _reference(self, header: str, key: str, cmd: str, check: str) -> CommandResponse:
        if self._ask is None:  # in-process use (tests): the pool's own reference process
            return super()._reference(header, key, cmd, check)
        known = self._references.get(key)
        if known is None:
            known = self._references[key] = self._ask(header, key, cmd, check).unwrap()
        return known


@dataclass
class Reply:
    """One job's answer from an actor: the outcome (without the job: the driver holds it), the headers
    its worker now holds (for header affinity), and how many REPLs it has started."""

    outcome: Outcome | None
    claimed: frozenset[str]
    started: int
    start_failed: tuple[str, str | None] | None = None  # no REPL can start on this node: the run stops
    repl: tuple[int, str] | None = None  # its REPL now: (pid, start time), so the driver can end it by pid


class CheckWorker:
    """One pool worker, kept across jobs: what each Ray actor is."""

    def __init__(self, setup: WorkerSetup, ask: Callable[[str, str, str, str], RefAnswer] | None = None):
        launch = node_launch(setup)
        self._tmp = private_tmp("actor")
        self.pool = _ActorPool(repl_factory(setup, launch, self._tmp), setup.limits,
                               setup.needs_followup, setup.review, ask)
        self.pool._start_workers()
        self.worker = self.pool._workers[0]

    def check(self, job: Job, fresh: bool = False) -> Reply:
        """Check one job as the local pool's inline worker does; ``fresh``: on a new REPL (a job resubmitted
        after its actor was lost)."""
        if fresh:
            self.worker._drop()
        job.submitted = time.monotonic()  # the driver's clock means nothing here
        self.pool._sched.claim(self.worker, job.header)
        try:
            out = self.pool._handle(self.worker, job)
        except StartFailed as e:
            return Reply(None, frozenset(), self.pool.started, (e.message, e.next_step))
        out.job = None  # type: ignore[assignment]  # only the answer travels back
        return Reply(out, frozenset(self.worker.claimed), self.pool.started, repl=self._repl_id())

    def check_batch(self, jobs: list[Job], fresh: bool = False) -> list[Reply]:
        """Several jobs in one call, checked in order (one submission and one answer per call: the
        driver's cost per candidate falls); ``fresh`` applies to the first. Stops at a start failure."""
        out = []
        for i, job in enumerate(jobs):
            r = self.check(job, fresh=fresh and i == 0)
            out.append(r)
            if r.start_failed is not None:
                break
        return out

    def _repl_id(self) -> tuple[int, str] | None:
        r = self.worker.repl
        pid = r.pid if r is not None else None
        if pid is None:
            return None
        start = proc_start(pid)
        return (pid, start) if start is not None else None

    def pids(self) -> dict[str, Any]:
        """This process and its REPL's (for tests that kill one)."""
        r = self.worker.repl
        return {"actor": os.getpid(), "repl": r.pid if r is not None else None}

    def shutdown(self) -> None:
        self.pool.close()
        self._tmp.cleanup()
