"""Generation and verification overlapped: a generator thread samples proofs into a queue while the
verifier's pool checks them, so the GPU does not wait for Lean nor Lean for the GPU. Every sample and
verdict is written to the run store as it is made; a rerun resumes where the last one stopped.

``stop()`` (Ctrl-C, SIGTERM) asks the model for nothing more, lets the verifier stop through
``Verifier.stop``, and still stores every sample already generated and every verdict already decided.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.data.problem import Problem
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.api import Verifier
from bridge.verify.candidate import Candidate
from bridge.verify.verdict import Verdict
from provers.backends.base import Backend, SamplingParams
from provers.templates import Family, Prompt, extract, render, render_correction

_DONE = object()
STOP_ON_FIRST_CHUNK = 4  # samples asked at once with --stop-on-first: the block drawn whatever its verdicts
GENERATION_GRACE = 3.0  # seconds a stopped run waits for an answer already being generated


@dataclass
class ProveSettings:
    samples: int = 64
    rounds: int = 0
    stop_on_first: bool = False
    params: SamplingParams = field(default_factory=SamplingParams)
    chunk: int = 64  # samples asked of the backend at once (4 with --stop-on-first)
    count_fast_gate: bool = False  # a fast-gate `proved` (a stand-in REPL, not Lean) counts as solved
    count_stand_in: bool = False  # `bridge demo` only: the stand-in REPL's `proved` counts inside the demo
    stop_grace: float = 3.0  # seconds a stop gives the checks in flight


@dataclass
class GenTask:
    problem: Problem
    round: int
    indices: list[int]
    prompt: Prompt
    parent: str | None = None


def problem_of(sid: str) -> str:
    return sid.rsplit("/", 2)[0]


def _prompt_text(prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)


def _seed(base: int, problem_id: str, round_: int, first: int) -> int:
    return (base + zlib.crc32(f"{problem_id}/{round_}".encode()) + first) % (2**31)


class Pipeline:
    def __init__(self, backend: Backend, family: Family, verifier: Verifier, store: RunStore,
                 settings: ProveSettings, on_verdict: Callable[[Verdict], None] | None = None,
                 on_generated: Callable[[int, int], None] | None = None):
        self.backend = backend
        self.family = family
        self.verifier = verifier
        self.store = store
        self.s = settings
        self.on_verdict = on_verdict or (lambda v: None)
        self.on_generated = on_generated or (lambda round_, n: None)  # (round, samples newly stored)
        self.solved: set[str] = store.solved(settings.count_fast_gate, settings.count_stand_in)
        self.problems: dict[str, Problem] = {}
        self.stopped = False
        self._served_model: str | None = store.meta().get("served_model")
        # a stopped run stops waiting for a generation in flight; the abandoned thread must not write after
        self._write_lock = threading.Lock()
        self._verified: set[str] = set()  # sample ids given a verdict in this process (for --stop-on-first)
        self._verified_cv = threading.Condition()
        self._halt = threading.Event()  # the current stage's: verification failed, generate nothing more

    def stop(self) -> None:
        """Ask the model for nothing more and stop verification (safe from a signal handler: it only
        sets flags and calls ``Verifier.stop``)."""
        self.stopped = True
        self.verifier.stop(self.s.stop_grace)

    def counts_as_solved(self, v: Verdict) -> bool:
        return v.counted(self.s.count_fast_gate, self.s.count_stand_in)

    # -- the two stages -----------------------------------------------------------------------------

    def _put(self, out: queue.Queue, item: object, halt: threading.Event) -> None:
        """Hand an item to the verifying side unless the run stopped (then nobody reads the queue)."""
        while not (self.stopped or halt.is_set()):
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _note_served_model(self) -> None:
        served = getattr(self.backend, "served_model", None)  # what an endpoint says it runs
        if served and served != self._served_model:
            self._served_model = served
            self.store.set_meta({"served_model": served})

    def _generate(self, tasks: Iterator[GenTask], out: queue.Queue, errors: list[BaseException],
                  halt: threading.Event, abandoned: threading.Event) -> None:
        try:
            for t in tasks:
                if self.stopped or halt.is_set():
                    return
                self.store.set_prompt(t.problem.id, t.round, _prompt_text(t.prompt))
                step = max(1, min(self.s.chunk, STOP_ON_FIRST_CHUNK if self.s.stop_on_first else self.s.chunk))
                for start in range(0, len(t.indices), step):
                    if self.stopped or halt.is_set():  # ask the model for nothing more
                        return
                    if self.s.stop_on_first and t.problem.id in self.solved:
                        break
                    idxs = t.indices[start:start + step]
                    p = SamplingParams(self.s.params.temperature, self.s.params.top_p, self.s.params.max_tokens,
                                       _seed(self.s.params.seed, t.problem.id, t.round, idxs[0]))
                    texts = self.backend.generate(t.prompt, len(idxs), p)
                    new: list[Candidate] = []
                    with self._write_lock:
                        if abandoned.is_set():  # the run ended while this answer was being generated
                            return
                        self._note_served_model()
                        for i, text in zip(idxs, texts, strict=True):
                            sid = sample_id(t.problem.id, t.round, i)
                            cand = extract(self.family, t.problem, text, sid)
                            row = SampleRow(sid, t.problem.id, t.round, i, text, cand.header, cand.body, t.parent)
                            if self.store.add_sample(row, _prompt_text(t.prompt), p.to_json()):
                                new.append(cand)
                    self.on_generated(t.round, len(new))
                    for cand in new:  # stored first: a sample never verified is verified by the next run
                        self._put(out, cand, halt)
        except BaseException as e:  # noqa: BLE001 - handed to the verifying thread
            errors.append(e)
        finally:
            self._put(out, _DONE, halt)

    def _candidates(self, backlog: list[Candidate], q: queue.Queue) -> Iterator[Candidate]:
        for c in backlog:
            if self.stopped:
                return
            yield c
        # poll, so that a stop ends the stream even while the generator waits for the model
        while not self.stopped:
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            yield item

    def _run(self, tasks: Iterator[GenTask]) -> None:
        # samples a killed run generated but never verified go first
        backlog = []
        for row in self.store.unverified():
            prob = self.problems.get(row.problem_id)
            if prob is not None:
                backlog.append(extract(self.family, prob, row.completion, row.id))
        q: queue.Queue = queue.Queue(maxsize=4 * max(self.s.chunk, 1))
        errors: list[BaseException] = []
        halt = self._halt = threading.Event()  # generate nothing more
        abandoned = threading.Event()  # store nothing more: the run is over
        gen = threading.Thread(target=self._generate, args=(tasks, q, errors, halt, abandoned),
                               name="bridge-generator", daemon=True)
        gen.start()
        grace: float | None = None  # how long to wait for the generator at the end; None: until it is done
        try:
            for v in self.verifier.verify(self._candidates(backlog, q)):
                self.store.add_verdict(v.id, v)
                if self.counts_as_solved(v):
                    self.solved.add(problem_of(v.id))
                with self._verified_cv:
                    self._verified.add(v.id)
                    self._verified_cv.notify_all()
                self.on_verdict(v)
        except KeyboardInterrupt:
            grace = 0.0  # a second Ctrl-C: quit at once
            raise
        except BaseException:
            halt.set()  # verification failed: ask the model for nothing more
            grace = GENERATION_GRACE
            raise
        finally:
            if self.stopped and grace is None:
                grace = GENERATION_GRACE  # an answer in flight is stored if it comes soon, else left behind
            self._wind_down(gen, q, grace, abandoned)
        if errors and not self.stopped:
            raise errors[0]

    def _wind_down(self, gen: threading.Thread, q: queue.Queue, grace: float | None,
                   abandoned: threading.Event) -> None:
        """Wait for the generator (draining the queue so it never blocks), at most ``grace`` seconds."""
        deadline = None if grace is None else time.monotonic() + grace
        while gen.is_alive() and (deadline is None or time.monotonic() < deadline):
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        with self._write_lock:
            abandoned.set()

    # -- rounds -------------------------------------------------------------------------------------

    def run(self, problems: list[Problem]) -> None:
        self.problems = {p.id: p for p in problems}

        def round0() -> Iterator[GenTask]:
            for p in problems:
                have = self.store.sample_indices(p.id, 0)
                missing = [i for i in range(self.s.samples) if i not in have]
                if missing and not (self.s.stop_on_first and p.id in self.solved):
                    yield GenTask(p, 0, missing, render(self.family, p))

        self._run(self._waves(list(round0())) if self.s.stop_on_first else round0())
        for r in range(1, self.s.rounds + 1):
            if self.stopped:
                return
            self._run(self._corrections(r))

    def _waves(self, tasks: list[GenTask]) -> Iterator[GenTask]:
        """--stop-on-first: one block of samples per unsolved problem per pass over the problems, and a
        problem's next block only once its previous block is verified. Otherwise a generator faster than
        Lean would draw every problem's whole budget before the first verdict, and nothing would stop."""
        pending = [(t, t.indices) for t in tasks]
        last: dict[str, list[str]] = {}
        while pending and not self.stopped:
            later = []
            for t, idxs in pending:
                pid = t.problem.id
                if pid in last and not self._wait_verified(last[pid]):
                    return  # stopped
                if pid in self.solved:
                    continue
                block, rest = idxs[:STOP_ON_FIRST_CHUNK], idxs[STOP_ON_FIRST_CHUNK:]
                last[pid] = [sample_id(pid, 0, i) for i in block]
                yield GenTask(t.problem, 0, block, t.prompt, t.parent)
                if rest:
                    later.append((t, rest))
            pending = later

    def _wait_verified(self, sids: list[str]) -> bool:
        """Wait until every sample in ``sids`` has a verdict (this run's or a stored one); False if the
        run stopped or verification failed meanwhile."""
        with self._verified_cv:
            waiting = [s for s in sids if s not in self._verified]
        waiting = [s for s in waiting if s not in self.store.verified_ids(waiting)]
        with self._verified_cv:
            while not (self.stopped or self._halt.is_set()) and any(s not in self._verified for s in waiting):
                self._verified_cv.wait(timeout=0.1)
        return not (self.stopped or self._halt.is_set())

    def _corrections(self, r: int) -> Iterator[GenTask]:
        """One corrected attempt for each failed sample of round r-1 of a still unsolved problem."""
        prev = [(s, v) for s, v in self.store.samples(round_=r - 1) if v is not None]
        for s, v in prev:
            if v.verdict not in ("failed", "incomplete") or s.problem_id in self.solved:
                continue
            if s.problem_id not in self.problems:
                continue
            if s.idx in self.store.sample_indices(s.problem_id, r):
                continue
            p = self.problems[s.problem_id]
            errors = "\n".join(
                f"line {m.get('pos', {}).get('line', '?')}: {m.get('data', '')}"
                for m in v.messages if m.get("severity") == "error") or (v.reason or "")
            base_prompt: Prompt = render(self.family, p)
            prompt = render_correction(self.family, p, base_prompt, s.completion, errors[:4000], r)
            yield GenTask(p, r, [s.idx], prompt, parent=s.id)


# -- a prove run inside another command's run directory (formalize --prove, pipeline) -------------------

PROVE_FIXED = ("model", "template", "sampling")


def prove_into(run_dir: Path, problems: list[Problem], backend: Backend, family: Family, verifier: Verifier,
               settings: ProveSettings, meta: dict[str, Any],
               started: Callable[[Pipeline], None] | None = None) -> bool:
    """``bridge prove`` over ``problems`` into ``run_dir`` (a prove run directory: ``run.sqlite``, and its
    ``report.json``/``report.md`` once every sample is decided), resumable as ``bridge prove`` is; the
    same settings as the run was made with, or an InputError. ``started`` gets the Pipeline before it
    runs (a caller's signal handler stops it). True when it was stopped."""
    from bridge.eval.report import build_report, write_report
    from bridge.runs import provenance

    with RunStore(run_dir) as store:
        store.check_meta(meta, fixed=PROVE_FIXED)
        provenance.record(run_dir, verifier)
        store.set_meta({**meta, "samples": settings.samples, "lean_version": verifier.launch.lean_version,
                        "count_fast_gate": settings.count_fast_gate, "first_block": STOP_ON_FIRST_CHUNK})
        store.add_problems(problems)
        pipe = Pipeline(backend, family, verifier, store, settings)
        if started is not None:
            started(pipe)
        pipe.run(problems)
        if pipe.stopped or not problems:
            return pipe.stopped
        write_report(Path(run_dir), build_report(store))
    return False


def verdicts_by_problem(store: RunStore, round_: int = 0) -> dict[str, dict[str, Verdict]]:
    """problem id -> {sample id -> verdict} of one round (samples without a verdict left out)."""
    out: dict[str, dict[str, Verdict]] = {}
    for s, v in store.samples(round_=round_):
        if v is not None:
            out.setdefault(s.problem_id, {})[s.id] = v
    return out
