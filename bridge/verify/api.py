"""The verification API the rest of bridge uses (prove, iterate, autoformalize)::

    from bridge import Verifier, load_config
    from bridge.verify.candidate import from_parts

    cands = [from_parts("p1", "import Mathlib", "theorem p1 : 1 + 1 = 2 := by\\n", "  norm_num")]
    with Verifier(load_config()) as v:
        for verdict in v.verify(cands):   # streamed as each finishes
            print(verdict.id, verdict.verdict, verdict.reason)

Flow per candidate: static screen -> result cache -> (duplicate of one in flight?) -> pool (header env,
body, soundness follow-up; reference statement in a process that never runs candidate code) ->
verdict (in the worker thread, with the optional strict kernel check) -> cache.

The pool is the local one unless the Verifier is given a ``pool_factory`` (a Ray pool: ``verify`` does
not know Ray; ``bridge.scale.make_verifier(cfg)`` builds a Verifier with one when ``ray`` is set, and
the CLI builds them that way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bridge.config import BridgeConfig, load_config
from bridge.errors import ConfigError, SetupError
from bridge.lean import sandbox
from bridge.lean.pool import KEEP, RECYCLE, RETRY, Job, Outcome, Pool, PoolLimits, StartFailed
from bridge.lean.project import ReplLaunch, repl_launch
from bridge.lean.repl import Repl
from bridge.lean.sandbox_config import extra_sandbox_paths, sandbox_limits
from bridge.verify import lexer, soundness
from bridge.verify import screen as screen_module
from bridge.verify.cache import ResultCache, cache_key, fingerprint
from bridge.verify.candidate import Candidate
from bridge.verify.inputs import MAX_CANDIDATE_BYTES, oversize
from bridge.verify.screen import Rule, screen
from bridge.verify.strict import strict_refusal
from bridge.verify.verdict import Verdict, classify_body, lean_clean, within


class JobPool(Protocol):
    """What ``verify`` needs of a pool: :class:`~bridge.lean.pool.Pool`, or a pool of the same interface
    built by a ``pool_factory`` (``bridge.scale.RayPool``)."""

    def run(self, jobs: Iterable[Job]) -> Iterator[Outcome]: ...

    def stop(self, grace: float = 3.0) -> None: ...


# (the Verifier, the pool limits of its configuration) -> the pool its next ``verify`` runs on
PoolFactory = Callable[["Verifier", PoolLimits], JobPool]


def pool_limits(cfg: BridgeConfig) -> PoolLimits:
    """The pool limits of the configuration (one place: the local pool and a Ray pool use the same)."""
    return PoolLimits(timeout=cfg.timeout, header_timeout=cfg.header_timeout, memory_limit_mb=cfg.memory_limit_mb,
                      recycle_after=cfg.recycle_after, recycle_memory_mb=cfg.recycle_memory_mb,
                      max_heartbeats=cfg.max_heartbeats, queue_size=cfg.queue_size)


@dataclass
class RunStats:
    submitted: int = 0
    lean_checked: int = 0  # candidates that reached a REPL
    lean_decided: int = 0  # of those, the ones Lean gave a verdict (a stop abandons the rest in flight)
    cache_hits: int = 0
    duplicates: int = 0
    screened: int = 0
    retried: int = 0  # checked again on a fresh worker after an answer no honest REPL gives


STAND_IN_MODULE = "bridge.demo.standin_repl"
_WRAPPED = re.compile(r"`[^`]*\bbwrap\b[^`]*`")  # a sandbox command line quoted in a start failure


_STAND_IN_DIR = Path(__file__).resolve().parents[1] / "demo"  # bridge/demo (a path only: no upward import)


def is_stand_in(argv: list[str]) -> bool:
    """Is this REPL command bridge's packaged stand-in (``bridge/demo/standin_repl.py``), not Lean? Any
    argument naming that file (through any path to its directory) or ``-m bridge.demo.standin_repl``
    makes it one. The tests' links and wrappers elsewhere (``tests/fakes/fake_repl.py``) are not: they
    stand for Lean in the tests."""
    for a in argv:
        if a == STAND_IN_MODULE:
            return True
        p = Path(a)
        if p.name == "standin_repl.py" and p.parent.resolve() == _STAND_IN_DIR:
            return True
    return False


class Verifier:
    """Verify candidates through a pool of sandboxed REPL workers. Use as a context manager."""

    def __init__(self, config: BridgeConfig | None = None, *, rules: Iterable[Rule] | None = None,
                 strict_checker: object | None = None, pool_factory: PoolFactory | None = None):
        self.cfg = config or load_config()
        if self.cfg.ray is not None and pool_factory is None:
            # checking locally what was asked to run on a cluster would be a silent change of machine
            raise ConfigError(f"ray = {self.cfg.ray!r} is set, but this Verifier was given no Ray pool",
                              "build it with bridge.scale.make_verifier(cfg) (as the CLI does), or unset ray")
        self.pool_factory = pool_factory
        self.launch: ReplLaunch = repl_launch(self.cfg)
        self.options = soundness.GateOptions(allow_native_decide=self.cfg.allow_native_decide,
                                             fast_gate=self.cfg.allow_fast_gate)
        self.rules = tuple(rules) if rules is not None else None
        # before anything else: under --strict nothing a candidate runs may reach the checker or the cache
        refused = strict_refusal(self.cfg.strict, self.cfg.sandbox)
        if refused is not None:
            raise ConfigError(refused)
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
        if self.strict_checker is not None:
            # before any candidate is checked (and so before anything of this run is cached)
            ok, why = self.strict_checker.available()  # type: ignore[attr-defined]
            if not ok:
                raise SetupError(f"--strict was asked for, but the kernel checker is unavailable: {why}",
                                 "run `bridge setup` (it builds bridge-check), or drop --strict")
        # what a cache entry was decided under besides the options: the checker's bytes and the screen
        # (its rules file, its code, and any rules passed in)
        self.checker_hash = str(getattr(self.strict_checker, "checker_hash", "") or "")
        self.rules_hash = fingerprint([screen_module.RULES_FILE, screen_module.__file__, lexer.__file__],
                                      repr(self.rules))
        # the stand-in REPL (`bridge demo`) is not Lean: its verdicts are labelled and never cached
        self.stand_in = is_stand_in(self.launch.argv)
        use_cache = self.cfg.use_cache and not self.stand_in
        self.cache = ResultCache(Path(self.cfg.cache_dir) / "results.sqlite") if use_cache else None
        self.stats = RunStats()
        self.setup_errors: dict[str, str] = {}
        self.unchecked = 0  # proved by the fast gate only (--allow-fast-gate): not real Lean
        self._lock = threading.Lock()
        self._strict_slots = threading.Semaphore(max(1, self.cfg.resolved_workers() // 2))
        self._tmp = tempfile.TemporaryDirectory(prefix="bridge-")
        self._pool_now: JobPool | None = None
        self.stopped = False  # stop() was called: the stream ended early, every verdict it gave is real

    def stop(self, grace: float = 3.0) -> None:
        """Stop a running ``verify`` (Ctrl-C, SIGTERM): no more candidates are read; checks in flight
        get ``grace`` seconds, then are abandoned (no verdict, nothing cached); every verdict already
        decided is still yielded. Safe from a signal handler."""
        self.stopped = True
        pool = self._pool_now
        if pool is not None:
            pool.stop(grace)

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        closer = getattr(self.strict_checker, "close", None)
        if callable(closer):
            closer()
        self._tmp.cleanup()

    @property
    def sandboxed(self) -> bool:
        return self._sandboxed

    # -- pieces -------------------------------------------------------------------------------------

    def _repl(self) -> Repl:
        argv = self.launch.argv
        env = self.launch.env or dict(os.environ)
        if self._sandboxed:
            tmp = tempfile.mkdtemp(dir=self._tmp.name)
            argv = sandbox.wrap(argv, tmp, readonly=[*sandbox.lean_readonly_paths(self.launch.cwd, argv, env=env),
                                                     *extra_sandbox_paths(self.cfg)],
                                cwd=self.launch.cwd, env=env, limits=sandbox_limits(self.cfg))
        return Repl(argv, cwd=self.launch.cwd, env=env, memory_limit_mb=self.cfg.memory_limit_mb or None,
                    transport_kind=self.launch.transport)

    def _pool(self) -> JobPool:
        limits = pool_limits(self.cfg)
        if self.pool_factory is not None:
            # e.g. one Ray actor per worker, with the same limits, follow-up rule, review and verdict
            return self.pool_factory(self, limits)
        return Pool(self._repl, workers=self.cfg.resolved_workers(), limits=limits,
                    needs_followup=lambda job, body: lean_clean(within(body, job.payload[0].span)),
                    review=self.review, finish=lambda out: self.decide(out.job.payload[0], out))

    def key(self, c: Candidate) -> str:
        # everything that can change a verdict: the REPL command, the sandbox, strict, the gate options
        opts = (f"native={self.options.allow_native_decide};fast={self.options.fast_gate};"
                f"strict={self.cfg.strict};sandbox={self._sandboxed};hb={self.cfg.max_heartbeats};"
                f"repl={' '.join(self.launch.argv)};gated={','.join(c.gated())};span={c.span}")
        return cache_key(self.launch.lean_version, self.launch.manifest_hash, c.header, c.body, opts,
                         checker_hash=self.checker_hash, rules_hash=self.rules_hash)

    def _job(self, c: Candidate, key: str) -> Job:
        ref = None
        if c.statement and c.name:
            rk = hashlib.sha256((c.header + "\x00" + c.statement).encode()).hexdigest()
            ref = (rk, soundness.reference_command(c), soundness.check_command(c.name))
        follow = soundness.followup_command(c.name, c.gated()) if c.name else None
        return Job(header=c.header, body=c.body, followup=follow, reference=ref, payload=(c, key))

    def review(self, out: Outcome) -> str:
        """Run in the worker after a clean check: keep its REPL, replace it, or check again elsewhere."""
        c: Candidate = out.job.payload[0]
        if out.followup is None or not c.name:
            return KEEP
        if self.options.fast_gate and not out.followup.messages:
            return KEEP
        if soundness.followup_anomaly(c, out.followup) is not None:
            return RETRY  # an answer no honest REPL gives: this worker may have been taken over
        assert out.body is not None
        if soundness.judge(c, within(out.body, c.span), out.followup, out.reference, self.options) is not None:
            return RECYCLE  # a rejected candidate's code may have changed its process: no one else runs there
        return KEEP

    def decide(self, c: Candidate, out: Outcome) -> Verdict:
        """An outcome of the pool -> the candidate's verdict (pure apart from the optional strict check)."""
        base = dict(id=c.id, timings=out.timings, lean_version=self.launch.lean_version, attempts=out.attempts)
        if out.status == "setup_error":
            with self._lock:
                self.setup_errors.setdefault(c.header, out.detail)
            return Verdict(verdict="crashed", reason=f"setup error: the header is unusable: {out.detail[:400]}",
                           rule="setup", **base)
        if out.status == "timeout":
            return Verdict(verdict="timeout", evidence=out.evidence or None, **base,
                           reason=f"no answer within {self.cfg.timeout:g}s, on {out.attempts} fresh worker(s): {out.detail}")
        if out.status == "crashed":
            return Verdict(verdict="crashed", evidence=out.evidence or None, **base,
                           reason=f"the REPL failed on {out.attempts} worker(s): {out.detail}")
        assert out.body is not None
        body = within(out.body, c.span)
        messages = [m.to_json() for m in body.messages or []]
        forced = classify_body(body)
        if forced is not None:
            return Verdict(verdict=forced[0], reason=forced[1], messages=messages, **base)
        if self.options.fast_gate and out.followup is not None and not out.followup.messages:
            # --allow-fast-gate: a stand-in that is not Lean gives `#print axioms` no answer; only Lean's
            # errors and sorries decided. Marked, never cached, not counted as solved unless asked.
            with self._lock:
                self.unchecked += 1
            return Verdict(verdict="proved", gate="fast", messages=messages, **base)
        rej = soundness.judge(c, body, out.followup, out.reference, self.options)
        if rej is not None:
            return Verdict(verdict="rejected", reason=rej.reason, rule=rej.rule, messages=messages, **base)
        if self.strict_checker is not None:
            if soundness.uses_native(out.followup):
                return Verdict(verdict="rejected", rule="strict_native", messages=messages, **base, reason=(
                    "--strict cannot check this proof: it relies on `native_decide` (Lean.ofReduceBool), and "
                    "a kernel replay (lean4checker v4.9.0, bridge-check) cannot run the compiled code that "
                    "native_decide evaluates; drop --strict to accept it under --allow-native-decide"))
            with self._strict_slots:
                rej = self.strict_checker.check(c)  # type: ignore[attr-defined]
            if rej is not None:
                return Verdict(verdict="rejected", reason=rej.reason, rule=rej.rule, messages=messages, **base)
        return Verdict(verdict="proved", messages=messages, **base)

    # -- the stream ---------------------------------------------------------------------------------

    def verify(self, candidates: Iterable[Candidate]) -> Iterator[Verdict]:
        """Yield exactly one verdict per candidate, as each finishes (not in input order).

        An error raised while reading ``candidates`` surfaces after the verdicts of every candidate
        read before it. A REPL that cannot start raises :class:`~bridge.errors.SetupError`. Behind the
        stand-in REPL every verdict says ``checker = "stand-in"`` (not Lean's).
        """
        for v in self._verify(candidates):
            yield dataclasses.replace(v, checker="stand-in") if self.stand_in else v

    def _verify(self, candidates: Iterable[Candidate]) -> Iterator[Verdict]:
        in_flight: dict[str, list[Candidate]] = {}
        finished: dict[str, Verdict] = {}  # in-run dedupe, with or without the cache
        lock = self._lock
        stats = self.stats
        screen_opts = self.options.screen_options()

        def jobs() -> Iterator[Job]:
            for c in candidates:
                if self.stopped:
                    return
                stats.submitted += 1
                size = oversize(c)
                if size is not None:
                    stats.screened += 1
                    v = Verdict(id=c.id, verdict="rejected", rule="size", lean_version=self.launch.lean_version,
                                reason=f"the candidate is {size:,} bytes, over the {MAX_CANDIDATE_BYTES:,}-byte "
                                "limit (almost surely degenerate model output); it was not sent to Lean")
                    yield Job(header=c.header, body="", payload=v, precomputed=True)
                    continue
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
                        cached = self.cache.get(k, checker_hash=self.checker_hash, rules_hash=self.rules_hash)
                        if cached is not None and cached.verdict == "proved" and self.strict_checker is not None:
                            # the cache file can be written by anything that ran with the user's rights
                            # outside the sandbox: under --strict a `proved` is always checked again
                            cached = None
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

        pool = self._pool_now = self._pool()
        if self.stopped:
            pool.stop(0)
        try:
            for out in pool.run(jobs()):
                if out.status == "precomputed":
                    yield out.job.payload
                    continue
                c, k = out.job.payload
                if out.status == "cancelled":  # abandoned by stop(): no verdict, and its duplicates neither
                    with lock:
                        in_flight.pop(k, None)
                    continue
                if out.retried_for:
                    stats.retried += 1
                v = out.result if isinstance(out.result, Verdict) else self.decide(c, out)
                stats.lean_decided += 1
                if self.cache is not None and v.gate == "full" and v.rule != "setup":
                    with lock:
                        self.cache.put(k, v, checker_hash=self.checker_hash, rules_hash=self.rules_hash)
                with lock:
                    finished[k] = v
                    waiting = in_flight.pop(k, [])
                yield v
                for d in waiting:
                    yield Verdict(**{**v.__dict__, "id": d.id, "cached": True})
        except StartFailed as e:
            raise SetupError(self._start_failure(e.message), e.next_step) from None
        finally:
            self._pool_now = None

    def _start_failure(self, message: str) -> str:
        """A start failure for a person: bwrap's own message and the missing path first; the sandbox's
        long command line replaced by the REPL command it wraps (all of it with --verbose)."""
        if not self._sandboxed:
            return message
        if not self.cfg.verbose:
            short = " ".join(self.launch.argv)
            message = _WRAPPED.sub(lambda m: f"`{short}` (in the sandbox; --verbose shows the bwrap command)",
                                   message)
        why = sandbox.explain_failure(message, None)
        return f"{why}; {message}" if why else message

    def verify_all(self, candidates: Iterable[Candidate]) -> list[Verdict]:
        """All verdicts, in input order."""
        cands = list(candidates)
        order = {c.id: i for i, c in enumerate(cands)}
        return sorted(self.verify(cands), key=lambda v: order.get(v.id, 0))

