"""Answer grading: extraction, then equivalence with Hugging Face's math-verify, in worker processes.

math-verify bounds its parsing and comparison with ``signal.alarm`` (``math_verify.utils.timeout``), which
works only in a process's main thread: called from any other thread ``parse`` raises ValueError. So a
problem's samples are graded by :func:`grade_problem` in a worker process of :class:`Grader` (spawned, so
no thread state of the caller is inherited), where the call runs in that worker's main thread; the
caller may be any thread. A worker that does not come back within a wall-clock limit (a hang below the
reach of SIGALRM) is killed and the pool replaced.

Equivalence (:func:`equivalent`): gold first, as math-verify is not symmetric (``verify(gold, target)``
simplifies assignments and converts equations to intervals on the gold side only). Where math-verify
parses no answer out of one side, SymPy (through math-verify's own LaTeX parser, ``latex2sympy2_extended``)
decides; where that fails too, the normalised strings (:func:`bridge.informal.extract.normalise`).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from bridge.informal.extract import extract_answer, normalise, strict_equal, substring_match
from bridge.informal.metrics import group_answers

GRADERS = ("math-verify", "strict", "substring")
MV_TIMEOUT = 5  # seconds, math-verify's own default for parse and verify
SYMPY_TIMEOUT = 5


def _latex(answer: str) -> str:
    # an extracted answer may still carry its math delimiters; math-verify reads $...$ itself
    return "$" + answer.replace("\\$", "").replace("$", "").strip() + "$"


def mv_parse(answer: str, cache: dict[str, list] | None = None) -> list:
    """math-verify's parse of one answer ([] when it finds none). Main thread only (SIGALRM)."""
    if cache is not None and answer in cache:
        return cache[answer]
    from math_verify import parse

    out = parse(_latex(answer), parsing_timeout=MV_TIMEOUT)
    if cache is not None:
        cache[answer] = out
    return out


def sympy_equal(gold: str, pred: str) -> bool | None:
    """The fallback where math-verify gives no answer: both sides through latex2sympy, equal when their
    difference simplifies to 0 (or they compare equal). None when either side does not parse."""
    from latex2sympy2_extended import latex2sympy
    from sympy import simplify

    def handler(signum: int, frame: object) -> None:
        raise TimeoutError

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, handler) if main else None
    if main:
        signal.alarm(SYMPY_TIMEOUT)
    try:
        a, b = latex2sympy(normalise(gold)), latex2sympy(normalise(pred))
        if a == b:
            return True
        try:
            return bool(simplify(a - b) == 0)
        except (TypeError, AttributeError):
            return False
    except Exception:  # noqa: BLE001 - unparsable LaTeX, a timeout: no SymPy answer
        return None
    finally:
        if main:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def equivalent(gold: str, pred: str, cache: dict[str, list] | None = None) -> tuple[bool, str]:
    """(equal?, which method decided): math-verify, else SymPy, else the normalised strings."""
    from math_verify import verify

    g, p = mv_parse(gold, cache), mv_parse(pred, cache)
    if g and p:
        return bool(verify(g, p, timeout_seconds=MV_TIMEOUT)), "math-verify"
    s = sympy_equal(gold, pred)
    if s is not None:
        return s, "sympy"
    return strict_equal(gold, pred), "normalised"


def grade_problem(gold: str, samples: Sequence[tuple[int, str]]) -> dict[str, Any]:
    """Grade one problem's samples ((index, response) pairs) against its gold answer: per sample the
    extracted answer and the three verdicts (math-verify, strict, substring control), and the answer
    groups majority voting counts (math-verify equivalence, and normalised-string equality for the strict
    and substring graders). Runs in a worker process (see the module docstring)."""
    cache: dict[str, list] = {}
    rows = []
    for idx, text in samples:
        ex = extract_answer(text)
        answer = ex.answer if ex else None
        correct, method = equivalent(gold, answer, cache) if answer is not None else (False, "no answer")
        rows.append({"idx": idx, "answer": answer, "how": ex.how if ex else None, "correct": correct,
                     "method": method, "strict": strict_equal(gold, answer), "substring": substring_match(gold, text)})
    answers = [(r["idx"], r["answer"]) for r in rows]
    return {
        "n": len(rows), "samples": rows, "error": None,
        "groups": {
            # the representative (a group's first answer) on math-verify's gold side
            "math-verify": group_answers(answers, lambda rep, a: equivalent(rep, a, cache)[0], key=normalise),
            "normalised": group_answers(answers, lambda rep, a: False, key=normalise),
        },
    }


class GradingAborted(Exception):
    """The grader was aborted (a stopped run): the problem is left ungraded, for the next run."""


def _warm() -> None:
    import math_verify  # noqa: F401 - imported once per worker, not once per problem


class Grader:
    """A pool of grading processes, usable from any thread. ``grade`` blocks until its problem is graded
    (or the wall-clock limit killed the pool: then the grades carry an ``error``)."""

    def __init__(self, workers: int = 2, limit: Callable[[int], float] = lambda n: 60.0 + 15.0 * n,
                 fn: Callable[..., dict[str, Any]] = grade_problem):
        self.workers = max(1, workers)
        self.limit = limit
        self.fn = fn
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._aborted = False

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pool(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._aborted:
                raise GradingAborted
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_warm)
            return self._executor, self._generation

    def _replace(self, generation: int) -> None:
        """Kill the pool (once per generation: other threads waiting on it see it broken and retry)."""
        with self._lock:
            if generation != self._generation or self._executor is None:
                return
            ex, self._executor = self._executor, None
            self._generation += 1
        _kill(ex)

    def submit(self, gold: str, samples: Sequence[tuple[int, str]]) -> tuple[Future, int]:
        ex, gen = self._pool()
        return ex.submit(self.fn, gold, list(samples)), gen

    def grade(self, gold: str, samples: Sequence[tuple[int, str]]) -> dict[str, Any]:
        samples = list(samples)
        for attempt in range(2):  # a pool another problem's timeout broke: once more on the new one
            fut, gen = self.submit(gold, samples)
            try:
                return fut.result(timeout=self.limit(len(samples)))
            except FutureTimeout:
                if self._aborted:
                    raise GradingAborted from None
                self._replace(gen)
                return failed_grades(samples, f"grading took longer than {self.limit(len(samples)):g}s; "
                                     "the grading worker was killed")
            except (BrokenProcessPool, CancelledError):
                if self._aborted:
                    raise GradingAborted from None
                self._replace(gen)
                if attempt == 1:
                    return failed_grades(samples, "the grading worker died")
        raise AssertionError("unreachable")

    def abort(self) -> None:
        """Stop now: grading in flight is abandoned (its callers get GradingAborted), workers killed."""
        with self._lock:
            self._aborted = True
            ex, self._executor = self._executor, None
        if ex is not None:
            _kill(ex)

    def close(self) -> None:
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)


def _kill(ex: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor cannot cancel a running call: kill its workers (ours) by their handles
    procs = getattr(ex, "_processes", None) or {}
    for p in list(procs.values()):
        p.kill()
    ex.shutdown(wait=False, cancel_futures=True)


def failed_grades(samples: Sequence[tuple[int, str]], why: str) -> dict[str, Any]:
    """Grades of a problem whose grading failed: no sample counts as correct, the reason is kept."""
    rows = [{"idx": i, "answer": None, "how": None, "correct": False, "method": "error", "strict": False,
             "substring": False} for i, _ in samples]
    return {"n": len(rows), "samples": rows, "error": why, "groups": {"math-verify": [], "normalised": []}}
