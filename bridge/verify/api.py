"""The verification API the rest of bridge uses (prove, iterate, autoformalize)::

    from bridge import Verifier, load_config
    from bridge.verify.candidate import from_parts

    cands = [from_parts("p1", "import Mathlib", "theorem p1 : 1 + 1 = 2 := by\\n", "  norm_num")]
    with Verifier(load_config()) as v:
        for verdict in v.verify(cands):   # streamed as each finishes
            print(verdict.id, verdict.verdict, verdict.reason)

Flow per candidate: static screen -> result cache -> (duplicate of one in flight?) -> pool (header env,
body, soundness follow-up) -> verdict -> optional strict kernel replay -> cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bridge.config import BridgeConfig, load_config
from bridge.errors import SetupError
from bridge.lean import sandbox
from bridge.lean.pool import Job, Outcome, Pool, PoolLimits
from bridge.lean.project import ReplLaunch, repl_launch
from bridge.lean.repl import Repl
from bridge.verify import soundness
from bridge.verify.cache import ResultCache, cache_key
from bridge.verify.candidate import Candidate
from bridge.verify.screen import Rule, screen
from bridge.verify.verdict import Verdict, classify_body, lean_clean


@dataclass
class RunStats:
    submitted: int = 0
    lean_checked: int = 0  # candidates that reached a REPL
    cache_hits: int = 0
    duplicates: int = 0
    screened: int = 0


class Verifier:
    """Verify candidates through a pool of sandboxed REPL workers. Use as a context manager."""

    def __init__(self, config: BridgeConfig | None = None, *, rules: Iterable[Rule] | None = None,
                 strict_checker: object | None = None):
        self.cfg = config or load_config()
        self.launch: ReplLaunch = repl_launch(self.cfg)
        self.options = soundness.GateOptions(allow_native_decide=self.cfg.allow_native_decide)
        self.rules = tuple(rules) if rules is not None else None
        self.cache = ResultCache(Path(self.cfg.cache_dir) / "results.sqlite") if self.cfg.use_cache else None
        self.stats = RunStats()
        self.setup_errors: dict[str, str] = {}
        self.unchecked = 0  # proved by the fast gate only: the REPL did not answer the soundness follow-up
        self._tmp = tempfile.TemporaryDirectory(prefix="bridge-")
        self._sandboxed = False
        if self.cfg.sandbox:
            ok, why = sandbox.sandbox_available()
            if not ok:
                raise SetupError(f"the sandbox is not available: {why}",
                                 "install bubblewrap (apt-get install bubblewrap), or pass --no-sandbox "
                                 "to run model-written Lean unsandboxed")
            self._sandboxed = True
        else:
            warnings.warn("running model-written Lean without a sandbox (--no-sandbox)", stacklevel=2)
        self.strict_checker = strict_checker
        if self.cfg.strict and strict_checker is None:
            from bridge.verify.strict import StrictChecker

            self.strict_checker = StrictChecker(self.cfg, self.launch)

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        self._tmp.cleanup()

    @property
    def sandboxed(self) -> bool:
        return self._sandboxed

    # -- pieces -------------------------------------------------------------------------------------

    def _repl(self) -> Repl:
        argv = self.launch.argv
        if self._sandboxed:
            tmp = tempfile.mkdtemp(dir=self._tmp.name)
            argv = sandbox.wrap(argv, tmp, readonly=sandbox.lean_readonly_paths(self.launch.cwd, argv),
                                cwd=self.launch.cwd)
        return Repl(argv, cwd=self.launch.cwd, env=self.launch.env or dict(os.environ),
                    memory_limit_mb=self.cfg.memory_limit_mb or None)

    def _pool(self) -> Pool:
        limits = PoolLimits(timeout=self.cfg.timeout, header_timeout=self.cfg.header_timeout,
                            memory_limit_mb=self.cfg.memory_limit_mb, recycle_after=self.cfg.recycle_after,
                            recycle_memory_mb=self.cfg.recycle_memory_mb, max_heartbeats=self.cfg.max_heartbeats,
                            queue_size=self.cfg.queue_size)
        return Pool(self._repl, workers=self.cfg.resolved_workers(), limits=limits, needs_followup=lean_clean)

    def key(self, c: Candidate) -> str:
        # the REPL command is part of the key: another executable may answer differently
        opts = (f"native={self.options.allow_native_decide};strict={self.cfg.strict};hb={self.cfg.max_heartbeats};"
                f"repl={' '.join(self.launch.argv)}")
        return cache_key(self.launch.lean_version, self.launch.manifest_hash, c.header, c.body, opts)

    def _job(self, c: Candidate, key: str) -> Job:
        ref = None
        if c.statement and c.name:
            rk = hashlib.sha256((c.header + "\x00" + c.statement).encode()).hexdigest()
            ref = (rk, soundness.reference_command(c), soundness.followup_command(c.name))
        return Job(header=c.header, body=c.body, followup=soundness.followup_command(c.name) if c.name else None,
                   reference=ref, payload=(c, key))

    def decide(self, c: Candidate, out: Outcome) -> Verdict:
        """An outcome of the pool -> the candidate's verdict (pure apart from the optional strict replay)."""
        base = dict(id=c.id, timings=out.timings, lean_version=self.launch.lean_version, attempts=out.attempts)
        if out.status == "setup_error":
            self.setup_errors.setdefault(c.header, out.detail)
            return Verdict(verdict="crashed", reason=f"setup error: the header did not elaborate: {out.detail[:300]}",
                           rule="setup", **base)
        if out.status == "timeout":
            return Verdict(verdict="timeout", evidence=out.evidence or None, **base,
                           reason=f"no answer within {self.cfg.timeout:g}s, on {out.attempts} fresh worker(s): {out.detail}")
        if out.status == "crashed":
            return Verdict(verdict="crashed", evidence=out.evidence or None, **base,
                           reason=f"the REPL failed on {out.attempts} worker(s): {out.detail}")
        assert out.body is not None
        messages = [m.to_json() for m in out.body.messages or []]
        forced = classify_body(out.body)
        if forced is not None:
            return Verdict(verdict=forced[0], reason=forced[1], messages=messages, **base)
        if out.followup is not None and not out.followup.messages:
            # Real Lean always answers `#print axioms`; a REPL that says nothing is not Lean (a stand-in
            # speaking the protocol), so only the fast gate (errors, sorries) could decide.
            self.unchecked += 1
            return Verdict(verdict="proved", gate="fast", messages=messages, **base)
        rej = soundness.judge(c, out.body, out.followup, out.reference, self.options)
        if rej is not None:
            return Verdict(verdict="rejected", reason=rej.reason, rule=rej.rule, messages=messages, **base)
        if self.strict_checker is not None:
            rej = self.strict_checker.check(c)  # type: ignore[attr-defined]
            if rej is not None:
                return Verdict(verdict="rejected", reason=rej.reason, rule=rej.rule, messages=messages, **base)
        return Verdict(verdict="proved", messages=messages, **base)

    # -- the stream ---------------------------------------------------------------------------------

    def verify(self, candidates: Iterable[Candidate]) -> Iterator[Verdict]:
        """Yield exactly one verdict per candidate, as each finishes (not in input order).

        An error raised while reading ``candidates`` surfaces after the verdicts of every candidate
        read before it.
        """
        in_flight: dict[str, list[Candidate]] = {}
        finished: dict[str, Verdict] = {}  # in-run dedupe, with or without the cache
        lock = threading.Lock()
        stats = self.stats
        screen_opts = self.options.screen_options()

        def jobs() -> Iterator[Job]:
            for c in candidates:
                stats.submitted += 1
                hit = screen(c, self.rules, screen_opts)
                if hit is not None:
                    stats.screened += 1
                    v = Verdict(id=c.id, verdict="rejected", rule=hit.rule, reason=hit.reason(c.body),
                                lean_version=self.launch.lean_version)
                    yield Job(header=c.header, body="", payload=v, precomputed=True)
                    continue
                k = self.key(c)
                with lock:
                    cached = finished.get(k)  # the same text already decided in this run
                    if cached is not None:
                        stats.duplicates += 1
                    elif self.cache is not None:
                        cached = self.cache.get(k)
                        stats.cache_hits += cached is not None
                if cached is not None:
                    cached = Verdict(**{**cached.__dict__, "id": c.id, "cached": True})
                    yield Job(header=c.header, body="", payload=cached, precomputed=True)
                    continue
                with lock:
                    if k in in_flight:  # the same text is already being checked: wait for its verdict
                        in_flight[k].append(c)
                        stats.duplicates += 1
                        continue
                    in_flight[k] = []
                stats.lean_checked += 1
                yield self._job(c, k)

        pool = self._pool()
        for out in pool.run(jobs()):
            if out.status == "precomputed":
                yield out.job.payload
                continue
            c, k = out.job.payload
            v = self.decide(c, out)
            if self.cache is not None and v.gate == "full":  # a stand-in REPL's fast-gate verdict is not kept
                with lock:
                    self.cache.put(k, v)
            with lock:
                finished[k] = v
                waiting = in_flight.pop(k, [])
            yield v
            for d in waiting:
                yield Verdict(**{**v.__dict__, "id": d.id, "cached": True})

    def verify_all(self, candidates: Iterable[Candidate]) -> list[Verdict]:
        """All verdicts, in input order."""
        cands = list(candidates)
        order = {c.id: i for i, c in enumerate(cands)}
        return sorted(self.verify(cands), key=lambda v: order.get(v.id, 0))
