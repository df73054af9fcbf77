"""Generation and verification overlapped: a generator thread samples proofs into a queue while the
verifier's pool checks them, so the GPU does not wait for Lean nor Lean for the GPU. Every sample and
verdict is written to the run store as it is made; a rerun resumes where the last one stopped.
"""

from __future__ import annotations

import json
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bridge.data.problem import Problem
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.api import Verifier
from bridge.verify.candidate import Candidate
from bridge.verify.verdict import Verdict
from provers.backends.base import Backend, SamplingParams
from provers.templates import Family, Prompt, extract, render, render_correction

_DONE = object()


@dataclass
class ProveSettings:
    samples: int = 64
    rounds: int = 0
    stop_on_first: bool = False
    params: SamplingParams = field(default_factory=SamplingParams)
    chunk: int = 64  # samples asked of the backend at once (4 with --stop-on-first)


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
                 settings: ProveSettings, on_verdict: Callable[[Verdict], None] | None = None):
        self.backend = backend
        self.family = family
        self.verifier = verifier
        self.store = store
        self.s = settings
        self.on_verdict = on_verdict or (lambda v: None)
        self.solved: set[str] = store.solved()
        self.problems: dict[str, Problem] = {}

    # -- the two stages -----------------------------------------------------------------------------

    def _generate(self, tasks: Iterator[GenTask], out: queue.Queue, errors: list[BaseException]) -> None:
        try:
            for t in tasks:
                self.store.set_prompt(t.problem.id, t.round, _prompt_text(t.prompt))
                step = max(1, min(self.s.chunk, 4 if self.s.stop_on_first else self.s.chunk))
                for start in range(0, len(t.indices), step):
                    if self.s.stop_on_first and t.problem.id in self.solved:
                        break
                    idxs = t.indices[start:start + step]
                    p = SamplingParams(self.s.params.temperature, self.s.params.top_p, self.s.params.max_tokens,
                                       _seed(self.s.params.seed, t.problem.id, t.round, idxs[0]))
                    texts = self.backend.generate(t.prompt, len(idxs), p)
                    for i, text in zip(idxs, texts, strict=True):
                        sid = sample_id(t.problem.id, t.round, i)
                        cand = extract(self.family, t.problem, text, sid)
                        row = SampleRow(sid, t.problem.id, t.round, i, text, cand.header, cand.body, t.parent)
                        if self.store.add_sample(row, _prompt_text(t.prompt), p.to_json()):
                            out.put(cand)
        except BaseException as e:  # noqa: BLE001 - handed to the verifying thread
            errors.append(e)
        finally:
            out.put(_DONE)

    def _candidates(self, backlog: list[Candidate], q: queue.Queue) -> Iterator[Candidate]:
        yield from backlog
        while True:
            item = q.get()
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
        gen = threading.Thread(target=self._generate, args=(tasks, q, errors), name="bridge-generator", daemon=True)
        gen.start()
        try:
            for v in self.verifier.verify(self._candidates(backlog, q)):
                self.store.add_verdict(v.id, v)
                if v.verdict == "proved":
                    self.solved.add(problem_of(v.id))
                self.on_verdict(v)
        finally:
            # unblock the generator if verification stopped early, then wait for it
            while gen.is_alive():
                try:
                    q.get(timeout=0.1)
                except queue.Empty:
                    pass
            gen.join()
        if errors:
            raise errors[0]

    # -- rounds -------------------------------------------------------------------------------------

    def run(self, problems: list[Problem]) -> None:
        self.problems = {p.id: p for p in problems}

        def round0() -> Iterator[GenTask]:
            for p in problems:
                have = self.store.sample_indices(p.id, 0)
                missing = [i for i in range(self.s.samples) if i not in have]
                if missing and not (self.s.stop_on_first and p.id in self.solved):
                    yield GenTask(p, 0, missing, render(self.family, p))

        self._run(round0())
        for r in range(1, self.s.rounds + 1):
            self._run(self._corrections(r))

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
