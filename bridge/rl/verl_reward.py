"""The same gated Lean reward for verl: ``custom_reward_function.path=<this file>``, ``.name=compute_score``.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info)`` per response (its
naive reward manager); :func:`compute_score_batch` takes its batch reward manager's lists, and checks
every response of the batch concurrently. ``ground_truth`` is the problem's formal statement, or a dict / JSON object with
``formal_statement`` and ``header``; ``extra_info`` may carry ``header``, ``problem_id`` and ``template``.

The result is a dict (verl logs the extra keys): ``score`` (1.0 proved, 0.0 failed / incomplete /
rejected), ``proved``, ``fault``, ``format_ok``, ``verdict``. verl has no way to leave a response out of
the reward, so an infrastructure fault (timeout, crashed) is never silently a 0: it raises
:class:`RewardFault` unless ``BRIDGE_VERL_ON_FAULT=zero``, which scores it 0.0 with ``fault`` = 1 in the
logged extras (and counts it in :data:`FAULTS`).

One Verifier pool per process (each Ray reward worker has its own), configured by the usual file and
``BRIDGE_*`` variables; the template by ``extra_info["template"]``, else ``BRIDGE_RL_TEMPLATE``, else
``deepseek-v1.5``. Nothing here uses signals: it works in Ray's worker threads.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from bridge.data.problem import Problem
from bridge.errors import BridgeError, ConfigError
from bridge.rl.reward import LeanReward, make_lean_reward
from bridge.rl.shaping import format_ok
from bridge.verify.candidate import DEFAULT_HEADER

DEFAULT_TEMPLATE = "deepseek-v1.5"
FAULTS = {"count": 0}  # infrastructure faults scored 0 under BRIDGE_VERL_ON_FAULT=zero

_rewards: dict[str, LeanReward] = {}
_lock = threading.Lock()


class RewardFault(BridgeError):
    """A response got no verdict (the REPL timed out or crashed twice): verl cannot drop it from the reward."""

    exit_code = 3


def _reward(template: str) -> LeanReward:
    with _lock:
        r = _rewards.get(template)
        if r is None:
            r = _rewards[template] = make_lean_reward(template=template)
        return r


def _problem(ground_truth: Any, extra: dict[str, Any]) -> Problem:
    gt = ground_truth
    if isinstance(gt, str) and gt.lstrip().startswith("{"):
        gt = json.loads(gt)
    if isinstance(gt, dict):
        stmt, header = gt.get("formal_statement"), gt.get("header", extra.get("header"))
    else:
        stmt, header = gt, extra.get("header")
    if not isinstance(stmt, str) or not stmt.strip():
        raise ConfigError("verl row without a formal statement: ground_truth must be the statement, or "
                          "{\"formal_statement\", \"header\"}", "put the problem's formal_statement in "
                          "reward_model.ground_truth")
    pid = str(extra.get("problem_id") or extra.get("id") or extra.get("index") or "")
    return Problem(id=pid, split="rl", header=DEFAULT_HEADER if header is None else str(header), formal_statement=stmt)


def _on_fault() -> str:
    mode = os.environ.get("BRIDGE_VERL_ON_FAULT", "raise").strip().lower()
    if mode not in ("raise", "zero"):
        raise ConfigError(f"BRIDGE_VERL_ON_FAULT={mode!r}: expects raise or zero", "unset it, or set raise or zero")
    return mode


def _score_all(data_sources: list[Any], solutions: list[str], ground_truths: list[Any],
               extra_infos: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    extras = [e or {} for e in extra_infos]
    templates = [str(e.get("template") or os.environ.get("BRIDGE_RL_TEMPLATE") or DEFAULT_TEMPLATE) for e in extras]
    problems = [_problem(g, e) for g, e in zip(ground_truths, extras, strict=True)]
    out: list[dict[str, Any] | None] = [None] * len(solutions)
    for template in dict.fromkeys(templates):  # one call per template: its responses checked concurrently
        idx = [i for i, t in enumerate(templates) if t == template]
        reward = _reward(template)
        judged = reward.judge([problems[i] for i in idx], [solutions[i] for i in idx])
        for i, (v, r) in zip(idx, judged, strict=True):
            fault = r is None
            if fault:
                if _on_fault() == "raise":
                    raise RewardFault(f"no Lean verdict for a response to {problems[i].id or 'a problem'} "
                                      f"({v.verdict}: {v.reason})",
                                      "fix the Lean setup (bridge doctor), raise `timeout`, or set "
                                      "BRIDGE_VERL_ON_FAULT=zero to score such responses 0 (logged as fault=1)")
                with _lock:
                    FAULTS["count"] += 1
            out[i] = {"score": 0.0 if fault else float(r), "proved": float(r == 1.0), "fault": float(fault),
                      "format_ok": float(format_ok(reward.family, solutions[i])), "verdict": v.verdict}
    return [o for o in out if o is not None]


def compute_score(data_source: Any, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                  **kwargs: Any) -> dict[str, Any]:
    """verl's custom reward for one response (its naive reward manager)."""
    return _score_all([data_source], [str(solution_str)], [ground_truth], [extra_info])[0]


def compute_score_batch(data_sources: list[Any], solution_strs: list[str], ground_truths: list[Any],
                        extra_infos: list[dict[str, Any] | None] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """verl's batch reward manager (``reward_model.reward_manager=batch``, ``custom_reward_function.name=
    compute_score_batch``): every response of the batch is checked concurrently."""
    n = len(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    return _score_all(list(data_sources), [str(s) for s in solution_strs], list(ground_truths), infos)


def close() -> None:
    """Stop this process's Verifier pools (verl's workers exit without it; tests call it)."""
    with _lock:
        rewards = list(_rewards.values())
        _rewards.clear()
    for r in rewards:
        r.close()
