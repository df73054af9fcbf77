"""Pure decisions of the reward: a verdict -> the Lean reward, the answer's format, the shaping terms, and
the per-call statistics that are logged. No I/O, no Lean, no threads."""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from provers.templates import Family

SCORED_ZERO = ("failed", "incomplete", "rejected")  # the proof is wrong (or cheats): the policy's fault
FAULTS = ("timeout", "crashed")  # the infrastructure's fault: no reward at all, never a 0

_CLOSED_BLOCK = re.compile(r"```lean4?[ \t]*\n.*?```", re.S)


def lean_reward(verdict: str, gate: str = "full", count_fast_gate: bool = False) -> float | None:
    """proved -> 1.0; failed / incomplete / rejected -> 0.0; timeout / crashed -> None (trl drops it).

    A fast-gate ``proved`` (a stand-in REPL that is not Lean, ``--allow-fast-gate``) is not known to be a
    proof: None unless ``count_fast_gate``, as ``bridge prove`` does not count it as solved either.
    """
    if verdict == "proved":
        return 1.0 if gate == "full" or (gate == "fast" and count_fast_gate) else None  # "stand-in": never
    if verdict in SCORED_ZERO:
        return 0.0
    if verdict in FAULTS:
        return None
    raise ValueError(f"unknown verdict {verdict!r}")


def format_ok(family: Family, answer: str) -> bool:
    """Whether the answer has the shape the family's extraction expects (its proof was not cut off):

    * ``cut_at_fence`` (DeepSeek-Prover-V1.5): the completion closes the code block it continues;
    * ``last_block`` (Goedel-/DeepSeek-Prover-V2): at least one closed ```` ```lean4 ```` block;
    * ``after_think`` (Kimina): ``<think>...</think>``, then a closed lean4 block.
    """
    if family.extraction == "cut_at_fence":
        return "```" in answer and bool(answer[: answer.find("```")].strip())
    if family.extraction == "after_think":
        head, sep, tail = answer.partition("</think>")
        return bool(sep) and "<think>" in head and _CLOSED_BLOCK.search(tail) is not None
    return _CLOSED_BLOCK.search(answer) is not None


@dataclass(frozen=True)
class ShapingConfig:
    """Optional terms added to the Lean reward (all off by default: the reward is the verdict alone)."""

    format_weight: float = 0.0  # added to a well-formed answer: a signal inside groups where nothing proved
    require_format: bool = False  # a malformed answer scores 0 even when its proof checks (format x Lean)
    length_penalty: float = 0.0  # subtracted per `length_unit` tokens beyond `length_free`
    length_free: int = 0
    length_unit: int = 1000

    def __post_init__(self) -> None:
        if self.length_unit <= 0:
            raise ValueError("length_unit must be positive")
        if self.length_free < 0 or self.length_penalty < 0:
            raise ValueError("length_free and length_penalty must be >= 0")

    @property
    def active(self) -> bool:
        return bool(self.format_weight or self.require_format or self.length_penalty)


@dataclass(frozen=True)
class Scored:
    """One completion's reward and every term that made it (what gets logged)."""

    reward: float | None
    lean: float | None
    format_ok: bool
    format_term: float
    length: int
    length_term: float


def shape(lean: float | None, fmt_ok: bool, length: int, cfg: ShapingConfig) -> Scored:
    """The shaped reward of one completion. An infrastructure fault (None) stays None: nothing is known
    about that completion, and a format or length term alone would rank it."""
    fmt = cfg.format_weight if fmt_ok else 0.0
    over = max(0, length - cfg.length_free)
    pen = cfg.length_penalty * over / cfg.length_unit
    if lean is None:
        return Scored(None, None, fmt_ok, 0.0, length, 0.0)
    base = 0.0 if cfg.require_format and not fmt_ok else lean
    return Scored(base + fmt - pen, lean, fmt_ok, fmt, length, pen)


def group_stats(keys: Sequence[Hashable], lean: Sequence[float | None]) -> dict[str, float]:
    """Groups (completions of one prompt) in which no completion proved, and those with no scored one.

    GRPO learns nothing from a group whose rewards are all equal; with a binary reward the common case is
    a group where every completion failed (``all_zero_groups``)."""
    groups: dict[Hashable, list[float | None]] = {}
    for k, r in zip(keys, lean, strict=True):
        groups.setdefault(k, []).append(r)
    n = len(groups) or 1
    all_zero = sum(1 for g in groups.values() if any(r is not None for r in g) and all(not r for r in g))
    unscored = sum(1 for g in groups.values() if all(r is None for r in g))
    return {"all_zero_groups": all_zero / n, "unscored_groups": unscored / n, "groups": float(len(groups))}


def batch_stats(verdicts: Sequence[str], scored: Sequence[Scored], keys: Sequence[Hashable],
                cached: Sequence[bool], seconds: float) -> dict[str, float]:
    """The scalars logged per reward call (trl's ``log_metric``; the JSONL log)."""
    n = len(scored) or 1
    rewards = [s.reward for s in scored if s.reward is not None]
    out: dict[str, float] = {
        "reward_mean": sum(rewards) / len(rewards) if rewards else float("nan"),
        "proved_rate": sum(1 for s in scored if s.lean == 1.0) / n,
        "none_rate": sum(1 for s in scored if s.reward is None) / n,
        "format_error_rate": sum(1 for s in scored if not s.format_ok) / n,
        "format_term_mean": sum(s.format_term for s in scored) / n,
        "length_term_mean": sum(s.length_term for s in scored) / n,
        "length_mean": sum(s.length for s in scored) / n,
        "cached_rate": sum(1 for c in cached if c) / n,
        "reward_seconds": seconds,
        "completions": float(len(scored)),
    }
    for v in ("proved", "failed", "incomplete", "rejected", "timeout", "crashed"):
        out[f"verdict/{v}"] = sum(1 for x in verdicts if x == v) / n
    out.update(group_stats(keys, [s.lean for s in scored]))
    return out


def completion_text(completion: Any) -> str:
    """trl's completion: text, or (conversational) a list of messages whose assistant turns are the answer."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, Sequence):
        parts = [m.get("content") or "" for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "".join(str(p) for p in parts)
    raise TypeError(f"a completion is text or a list of messages, not {type(completion).__name__}")
