"""The informal solving loop beside the prover pipeline: sample N solutions per problem (CoT, or TIR with
the python run in the sandbox), store each as it is made, grade each problem in the grading workers while
the model goes on with the next one. A rerun resumes: only missing solutions are sampled, only problems
whose grades do not cover all their solutions are graded.

``stop()`` (Ctrl-C, SIGTERM) asks the model for nothing more; solutions already stored stay, grading in
flight gets a few seconds, and the next run picks up the rest. A TIR solution is stored once finished:
one stopped between rounds is sampled again (with the same seeds) by the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field

from bridge.informal.families import SolverFamily, render
from bridge.informal.grading import Grader, GradingAborted
from bridge.informal.problem import InformalProblem
from bridge.informal.store import Solution, SolveStore
from bridge.informal.tir import CodeRunner, Execution, cut_at_output
from bridge.runs.store import sample_id
from provers.backends.base import Backend, SamplingParams
from provers.pipeline import _seed

FIXED = ("dataset", "split", "model", "template", "mode", "sampling", "tir_rounds")  # a resumed run's settings
STOP_GRACE = 3.0  # seconds a stopped run waits for the grading in flight


@dataclass
class SolveSettings:
    samples: int = 8
    mode: str = "cot"  # cot | tir
    tir_rounds: int = 4  # D: code executions per solution at most (NuminaMath's SC-TIR used depth 4)
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class _Trace:
    """A TIR solution being written."""

    idx: int
    text: str = ""
    executions: list[Execution] = field(default_factory=list)
    code: str | None = None  # waiting to run


class Solver:
    def __init__(self, backend: Backend, family: SolverFamily, store: SolveStore, settings: SolveSettings,
                 grader: Grader, runner: CodeRunner | None = None,
                 on_solution: Callable[[Solution], None] | None = None,
                 on_graded: Callable[[str, dict], None] | None = None):
        if settings.mode == "tir" and runner is None:
            raise ValueError("TIR needs a code runner")
        self.backend = backend
        self.family = family
        self.store = store
        self.s = settings
        self.grader = grader
        self.runner = runner
        self.on_solution = on_solution or (lambda s: None)
        self.on_graded = on_graded or (lambda pid, g: None)
        self.stopped = False
        self._grading = ThreadPoolExecutor(max_workers=grader.workers, thread_name_prefix="bridge-grade")
        self._pending: list[Future] = []
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._served: str | None = store.meta().get("served_model")

    def stop(self) -> None:
        """Ask the model for nothing more (safe from a signal handler: it only sets a flag)."""
        self.stopped = True

    # -- generation ---------------------------------------------------------------------------------

    def _params(self, seed: int) -> SamplingParams:
        p = self.s.params
        return SamplingParams(p.temperature, p.top_p, p.max_tokens, seed)

    def _note_served_model(self) -> None:
        served = getattr(self.backend, "served_model", None)
        if served and served != self._served:
            self._served = served
            self.store.set_meta({"served_model": served})

    def _cot(self, p: InformalProblem, prompt: str, missing: list[int]) -> list[tuple[int, str, list[Execution]]]:
        params = self._params(_seed(self.s.params.seed, p.id, 0, missing[0]))
        texts = self.backend.generate(prompt, len(missing), params)
        return [(i, t, []) for i, t in zip(missing, texts, strict=True)]

    def _tir(self, p: InformalProblem, prompt: str, missing: list[int]) -> list[tuple[int, str, list[Execution]]]:
        """Rounds of generation and execution; round 0 asks for all missing solutions at once (one shared
        prompt), later rounds continue each solution on its own text."""
        traces = [_Trace(i) for i in missing]
        assert self.runner is not None
        for r in range(self.s.tir_rounds + 1):
            live = [t for t in traces if r == 0 or t.code is not None]
            if not live:
                break
            if r == 0:
                gens = self.backend.generate(prompt, len(live), self._params(_seed(self.s.params.seed, p.id, 0, missing[0])))
            else:
                gens = []
                for t in live:
                    if self.stopped:
                        return []
                    gens += self.backend.generate(prompt + t.text, 1, self._params(_seed(self.s.params.seed, p.id, r, t.idx)))
            for t, g in zip(live, gens, strict=True):
                kept, code = cut_at_output(g)
                t.text += kept
                t.code = code if r < self.s.tir_rounds else None  # after D runs the solution ends as written
            waiting = [t for t in live if t.code is not None]
            if self.stopped and waiting:
                return []  # stopped between rounds: these are sampled again next time
            for t, ex in zip(waiting, self.runner.run_many([t.code for t in waiting]), strict=True):  # type: ignore[misc]
                t.executions.append(ex)
                t.text += f"{ex.output}\n```"
        return [(t.idx, t.text, t.executions) for t in traces]

    # -- grading ------------------------------------------------------------------------------------

    def _grade_later(self, p: InformalProblem) -> None:
        sols = self.store.solutions(p.id)
        if not sols:
            return

        def job() -> None:
            try:
                g = self.grader.grade(p.answer, [(s.idx, s.completion) for s in sols])
            except GradingAborted:
                return  # a stopped run: graded by the next one
            try:
                self.store.set_grades(p.id, g)
                self.on_graded(p.id, g)
            except BaseException as e:  # noqa: BLE001 - raised in the caller's thread at the end
                with self._lock:
                    self._errors.append(e)

        self._pending.append(self._grading.submit(job))

    # -- the run ------------------------------------------------------------------------------------

    def run(self, problems: list[InformalProblem]) -> None:
        graded = self.store.graded_counts()
        try:
            for p in problems:
                have = self.store.solution_indices(p.id)
                missing = [i for i in range(self.s.samples) if i not in have]
                if missing and not self.stopped:
                    prompt = render(self.family, self.s.mode, p.problem)
                    made = (self._tir if self.s.mode == "tir" else self._cot)(p, prompt, missing)
                    self._note_served_model()
                    for idx, text, execs in made:
                        sol = Solution(sample_id(p.id, 0, idx), p.id, idx, prompt, text, execs,
                                       self._params(_seed(self.s.params.seed, p.id, 0, missing[0])).to_json())
                        if self.store.add_solution(sol):
                            self.on_solution(sol)
                if self.stopped:
                    break  # what is stored is graded by the next run
                n = len(self.store.solution_indices(p.id))
                if n and graded.get(p.id) != n:
                    self._grade_later(p)
                if self._errors:
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: quit at once
            self.grader.abort()
            raise
        finally:
            if self.stopped:
                wait_futures(self._pending, timeout=STOP_GRACE)
                self.grader.abort()  # what is still grading is left for the next run
            self._grading.shutdown(wait=True, cancel_futures=self.stopped)
        if self._errors:
            raise self._errors[0]


def solve_into(store: SolveStore, problems: list[InformalProblem], backend: Backend, family: SolverFamily,
               settings: SolveSettings, grade_workers: int = 2, runner: CodeRunner | None = None,
               on_solution: Callable[[Solution], None] | None = None,
               on_graded: Callable[[str, dict], None] | None = None,
               started: Callable[[Solver], None] | None = None) -> bool:
    """``bridge solve`` over ``problems`` into an open store whose meta is set: sample, store, grade in the
    grading workers. ``started`` gets the Solver before it runs (a caller's signal handler stops it).
    True when it was stopped (everything stored is kept; the same call again goes on)."""
    store.add_informal_problems(problems)
    with Grader(workers=grade_workers) as grader:
        solver = Solver(backend, family, store, settings, grader, runner, on_solution=on_solution,
                        on_graded=on_graded)
        if started is not None:
            started(solver)
        solver.run(problems)
    return solver.stopped
