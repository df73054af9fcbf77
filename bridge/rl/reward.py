"""The Lean verdict as a reward function with trl's ``GRPOTrainer`` signature::

    from bridge.rl import make_lean_reward
    reward = make_lean_reward(template="deepseek-v1.5")        # config: load_config() (file + BRIDGE_*)
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=ds)   # ds: prompt, header, formal_statement

Per completion: the family's extraction (``provers.templates.extract``, exactly what ``bridge prove``
checks: the dataset's header and statement plus the model's proof), one long-lived ``Verifier`` stream
(:mod:`bridge.rl.service`; the result cache on unless the configuration turns it off), then
:func:`bridge.rl.shaping.lean_reward`: proved -> 1.0, failed / incomplete / rejected -> 0.0, timeout /
crashed -> None (trl leaves it out of the reward). A REPL that cannot start raises; it never scores 0.

``__call__`` is ``async`` (trl >= 1.x awaits it on its event-loop thread, concurrently with other async
rewards); :meth:`LeanReward.score` is the blocking form, usable from any thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig, load_config
from bridge.data.problem import Problem
from bridge.errors import InputError
from bridge.rl.service import VerifierService
from bridge.rl.shaping import (
    Scored,
    ShapingConfig,
    batch_stats,
    completion_text,
    format_ok,
    lean_reward,
    shape,
)
from bridge.verify.candidate import DEFAULT_HEADER, Candidate, signature
from bridge.verify.verdict import Verdict
from provers.templates import Family, extract, family_for

METRIC_PREFIX = "lean/"


class LeanReward:
    """A reward function for trl's GRPOTrainer (and, through :mod:`bridge.rl.verl_reward`, verl)."""

    __name__ = "lean_reward"  # trl names the reward's metrics after it (rewards/lean_reward/mean)

    def __init__(self, family: Family, config: BridgeConfig, *, shaping: ShapingConfig | None = None,
                 log_path: str | Path | None = None, service: VerifierService | None = None):
        self.family = family
        self.config = config
        self.shaping = shaping or ShapingConfig()
        self.service = service if service is not None else VerifierService(config)
        self.log_path = Path(log_path) if log_path else None
        self._log_lock = threading.Lock()
        self.calls = 0
        self.last: dict[str, float] = {}  # the statistics of the latest call (also for callers without trl)

    # -- trl's interface ----------------------------------------------------------------------------------

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        t0 = time.perf_counter()
        cands, texts, keys, lengths = self._candidates(prompts, completions, kwargs)
        futures = self.service.submit(cands)
        verdicts = list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
        return self._finish(cands, texts, keys, lengths, verdicts, time.perf_counter() - t0, kwargs)

    def score(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        """The same rewards, blocking (any thread; no event loop needed)."""
        t0 = time.perf_counter()
        cands, texts, keys, lengths = self._candidates(prompts, completions, kwargs)
        futures: list[Future[Verdict]] = self.service.submit(cands)
        verdicts = [f.result() for f in futures]
        return self._finish(cands, texts, keys, lengths, verdicts, time.perf_counter() - t0, kwargs)

    def judge(self, problems: Sequence[Problem], answers: Sequence[str]) -> list[tuple[Verdict, float | None]]:
        """Blocking: each answer's verdict and unshaped Lean reward, nothing logged (pass-rate measurement)."""
        cands = [self._extract(p, a, f"{p.id}#{i}") for i, (p, a) in enumerate(zip(problems, answers, strict=True))]
        verdicts = [f.result() for f in self.service.submit(cands)]
        return [(v, lean_reward(v.verdict, _gate(v), self.config.count_fast_gate)) for v in verdicts]

    def close(self) -> None:
        self.service.close()

    def __enter__(self) -> LeanReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pieces -------------------------------------------------------------------------------------------

    def _candidates(self, prompts: Sequence[Any], completions: Sequence[Any], kw: dict[str, Any]
                    ) -> tuple[list[Candidate], list[str], list[str], list[int]]:
        n = len(completions)
        statements = _column(kw, "formal_statement", n)
        if statements is None:
            raise InputError("the Lean reward needs the dataset column `formal_statement` (trl passes every "
                             "dataset column to the reward as a keyword)",
                             "add `formal_statement` (and `header`) columns to the training dataset")
        headers = _column(kw, "header", n) or [None] * n
        ids = _column(kw, "problem_id", n) or _column(kw, "id", n) or [None] * n
        completion_ids = kw.get("completion_ids")
        cands, texts, keys, lengths = [], [], [], []
        for i in range(n):
            stmt = statements[i]
            if not isinstance(stmt, str) or not stmt.strip():
                raise InputError(f"completion {i}: the row's `formal_statement` is empty or not text")
            header = DEFAULT_HEADER if headers[i] is None else str(headers[i])
            pid = str(ids[i]) if ids[i] is not None else ""
            text = completion_text(completions[i])
            problem = Problem(id=pid, split="rl", header=header, formal_statement=stmt)
            cands.append(self._extract(problem, text, f"{pid or 'row'}#{i}"))
            texts.append(text)
            # the group a completion belongs to: its problem and prompt (trl repeats each prompt G times)
            keys.append(f"{pid}\x00{header}\x00{stmt}\x00{_prompt_key(prompts[i] if i < len(prompts) else '')}")
            lengths.append(len(completion_ids[i]) if completion_ids is not None and i < len(completion_ids)
                           else len(text))
        return cands, texts, keys, lengths

    def _extract(self, problem: Problem, answer: str, cand_id: str) -> Candidate:
        try:
            signature(problem.formal_statement)  # checked here: inside the Verifier's stream it would end the stream
            return extract(self.family, problem, answer, cand_id)
        except ValueError as e:  # a statement without a top-level `:=`: the dataset's error, not the model's
            raise InputError(f"problem {problem.id or cand_id}: cannot build a candidate from its "
                             f"formal_statement: {e}") from None

    def _finish(self, cands: list[Candidate], texts: list[str], keys: list[str], lengths: list[int],
                verdicts: list[Verdict], seconds: float, kw: dict[str, Any]) -> list[float | None]:
        count_fast = self.config.count_fast_gate
        scored: list[Scored] = [
            shape(lean_reward(v.verdict, _gate(v), count_fast), format_ok(self.family, t), n, self.shaping)
            for v, t, n in zip(verdicts, texts, lengths, strict=True)]
        stats = batch_stats([v.verdict for v in verdicts], scored, keys, [v.cached for v in verdicts], seconds)
        with self._log_lock:
            self.calls += 1
            self.last = stats
        self._log_trl(kw, verdicts, scored, stats)
        state = kw.get("trainer_state")  # trl's: these completions train step global_step + 1
        step = state.global_step + 1 if getattr(state, "global_step", None) is not None else None
        self._log_file(cands, verdicts, scored, stats, step)
        return [s.reward for s in scored]

    def _log_trl(self, kw: dict[str, Any], verdicts: list[Verdict], scored: list[Scored],
                 stats: dict[str, float]) -> None:
        log_metric: Callable[[str, float], None] | None = kw.get("log_metric")
        log_extra: Callable[[str, list], None] | None = kw.get("log_extra")
        if log_metric is not None:
            for k, v in stats.items():
                if k not in ("groups", "completions") and v == v:  # NaN (no scored completion) left out
                    log_metric(METRIC_PREFIX + k, float(v))
        if log_extra is not None:
            log_extra("verdict", [v.verdict for v in verdicts])
            log_extra("lean", [s.lean for s in scored])
            log_extra("format_ok", [s.format_ok for s in scored])
            if self.shaping.active:
                log_extra("format_term", [s.format_term for s in scored])
                log_extra("length_term", [s.length_term for s in scored])

    def _log_file(self, cands: list[Candidate], verdicts: list[Verdict], scored: list[Scored],
                  stats: dict[str, float], step: int | None) -> None:
        if self.log_path is None:
            return
        # `step`: the optimizer step these completions train (a resumed run trims the log by it)
        lines = [json.dumps({"call": self.calls, "step": step,
                             "stats": {k: (None if v != v else v) for k, v in stats.items()}})]
        for c, v, s in zip(cands, verdicts, scored, strict=True):
            rec = {"call": self.calls, "step": step, "id": c.id, "verdict": v.verdict, "rule": v.rule,
                   "gate": v.gate, "cached": v.cached, "lean": s.lean, "format_ok": s.format_ok,
                   "format_term": s.format_term, "length": s.length, "length_term": s.length_term, "reward": s.reward}
            if v.verdict == "proved":  # what was checked, so `bridge replay` can check it again
                rec.update(header=c.header, statement=c.statement, body=c.body)
            lines.append(json.dumps(rec, ensure_ascii=False))
        with self._log_lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")


def _gate(v: Verdict) -> str:
    """The gate a reward sees: a stand-in's verdict (not Lean) is never rewarded as a proof."""
    return v.gate if v.checker == "lean" else "stand-in"


def _column(kw: dict[str, Any], name: str, n: int) -> list[Any] | None:
    """A dataset column as trl passes it (one value per completion); a single value is repeated."""
    v = kw.get(name)
    if v is None:
        return None
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        return [v] * n
    if len(v) != n:
        raise InputError(f"the column `{name}` has {len(v)} values for {n} completions")
    return list(v)


def _prompt_key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False, default=str)


def make_lean_reward(template: str | Family | None, config: BridgeConfig | None = None, *,
                     shaping: ShapingConfig | None = None, log_path: str | Path | None = None) -> LeanReward:
    """The Lean reward for trl's GRPOTrainer: ``reward_funcs=[make_lean_reward(template="goedel-v2")]``.

    ``template``: the prover family whose extraction reads the completions (``deepseek-v1.5``,
    ``goedel-v2``, ``kimina``; None: ``deepseek-v1.5``, as ``bridge prove`` defaults). ``config``: the Verifier configuration; None reads the usual file and
    ``BRIDGE_*`` variables (:func:`bridge.config.load_config`). The dataset must have the columns
    ``formal_statement`` and ``header`` (and, for logs, ``problem_id`` or ``id``).
    """
    family = template if isinstance(template, Family) else family_for("", template)
    return LeanReward(family, config if config is not None else load_config(), shaping=shaping, log_path=log_path)
