"""Pure decisions of the offline prompt filter: a problem is trained on while its measured pass rate lies
in the window (Goedel-Prover-V2 keeps (0, 0.75]: a problem never solved gives GRPO no signal, one
nearly always solved teaches little)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.errors import InputError

Window = tuple[float, float]


def parse_window(text: str) -> Window | None:
    """``"LO,HI"`` -> (LO, HI), the pass rates kept being LO < rate <= HI; ``none`` -> no filter."""
    if text.strip().lower() in ("none", "off"):
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"--pass-window {text!r}: not LO,HI (two numbers)",
                         "e.g. --pass-window 0,0.75 (keeps 0 < pass rate <= 0.75), or none") from None
    if not (0.0 <= lo < hi <= 1.0):
        raise InputError(f"--pass-window {text!r}: needs 0 <= LO < HI <= 1", "e.g. --pass-window 0,0.75")
    return lo, hi


def pass_rate(rewards: Sequence[float | None]) -> float | None:
    """Proved among the samples that got a verdict; None when none did (only infrastructure faults)."""
    scored = [r for r in rewards if r is not None]
    if not scored:
        return None
    return sum(1 for r in scored if r >= 1.0) / len(scored)


def in_window(rate: float | None, window: Window | None) -> bool:
    """Whether a problem with this measured rate is trained on (an unmeasurable one never is)."""
    if window is None:
        return True
    if rate is None:
        return False
    lo, hi = window
    return lo < rate <= hi


@dataclass(frozen=True)
class EpochPlan:
    """The problems one epoch trains on and its optimizer steps."""

    kept: tuple[str, ...]  # problem ids, in measurement order
    rows: tuple[str, ...]  # the ids the epoch's dataset holds (kept, repeated up to one step's worth)
    steps: int


def plan_epoch(rates: dict[str, float | None], window: Window | None, prompts_per_step: int,
               start: int, total_steps: int) -> EpochPlan:
    """Which problems the epoch keeps and how many steps it runs (one pass over them, never past the total).

    trl's sampler drops an incomplete last batch of prompts, so an epoch is ``len(kept) // P`` steps; fewer
    kept problems than P are repeated to fill one step."""
    kept = tuple(pid for pid, r in rates.items() if in_window(r, window))
    if not kept:
        return EpochPlan((), (), 0)
    rows = kept
    while len(rows) < prompts_per_step:
        rows = rows + kept
    rows = rows[: max(len(kept), prompts_per_step)]
    steps = min(len(rows) // prompts_per_step, max(0, total_steps - start))
    return EpochPlan(kept, rows, steps)


def window_text(window: Window | None) -> str:
    return "every problem (no filter)" if window is None else f"{window[0]:g} < pass rate <= {window[1]:g}"
