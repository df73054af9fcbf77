"""REPL answers -> one verdict per candidate. Pure functions: no I/O, no processes.

Decisions read the structured fields first (``sorries``, ``severity``, ``proofStatus``) and message
text only where the REPL gives nothing else; where text is read, both Lean 4.9 and Lean 4.33 wordings
are matched (``declaration uses 'sorry'`` versus ``declaration uses `sorry` ``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from bridge.lean.protocol import CommandResponse, Message

VERDICTS = ("proved", "failed", "incomplete", "timeout", "crashed", "rejected")

SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")
HEARTBEATS = re.compile(r"\(deterministic\) timeout|maximum number of heartbeats")
UNSOLVED = re.compile(r"^unsolved goals")


@dataclass
class Verdict:
    """One result per candidate; ``to_json`` is the ``bridge verify --json`` line."""

    id: str
    verdict: str
    reason: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    lean_version: str = "unknown"
    rule: str | None = None
    attempts: int = 0
    cached: bool = False
    evidence: str | None = None
    gate: str = "full"  # "fast" when the REPL gave the soundness follow-up no answer (not real Lean)
    # "stand-in": decided by bridge's stand-in REPL (bridge/demo/standin_repl.py, `bridge demo`), not by
    # Lean: never cached, never counted as solved except inside a demo run (see ``counted``)
    checker: str = "lean"

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.verdict != "proved" and not self.reason:
            raise ValueError("every verdict but `proved` carries a reason")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "reason": self.reason,
            "messages": self.messages,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "lean_version": self.lean_version,
            "attempts": self.attempts,
            "cached": self.cached,
        }
        if self.rule:
            d["rule"] = self.rule
        if self.evidence:
            d["evidence"] = self.evidence
        if self.verdict == "proved":
            d["gate"] = self.gate
        if self.checker != "lean":
            d["checker"] = self.checker
        return d

    def counted(self, count_fast_gate: bool = False, count_stand_in: bool = False) -> bool:
        """Does this verdict count as solved? Fail closed: only Lean's full-gate `proved`; a fast-gate one
        only with ``count_fast_gate``; a stand-in's (not Lean) only with ``count_stand_in``, which only a
        demo run directory sets (``bridge demo``)."""
        if self.verdict != "proved":
            return False
        if self.checker != "lean" and not count_stand_in:
            return False
        return self.gate == "full" or (self.gate == "fast" and count_fast_gate)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        return cls(id=d["id"], verdict=d["verdict"], reason=d.get("reason"), messages=d.get("messages") or [],
                   timings=d.get("timings") or {}, lean_version=d.get("lean_version", "unknown"),
                   rule=d.get("rule"), attempts=d.get("attempts", 0), cached=d.get("cached", False),
                   evidence=d.get("evidence"), gate=d.get("gate", "full"),
                   checker=d.get("checker", "lean"))


def _first_line(m: Message) -> str:
    where = f"line {m.pos.line}: " if m.pos else ""
    return where + m.data.strip().split("\n")[0][:200]


def within(resp: CommandResponse, span: tuple[int, int] | None) -> CommandResponse:
    """Only the messages and sorries on lines ``span`` (first, last) of the body: one theorem of a file.

    A message without a position is kept (it cannot be placed, so it counts against every theorem).
    """
    if span is None:
        return resp
    lo, hi = span

    def inside(pos: object) -> bool:
        line = getattr(pos, "line", None)
        return line is None or lo <= line <= hi

    msgs = [m for m in resp.messages or [] if inside(m.pos)]
    sorries = [x for x in resp.sorries or [] if inside(x.pos)]
    return dataclasses.replace(resp, messages=msgs or None, sorries=sorries or None)


def classify_body(resp: CommandResponse) -> tuple[str, str] | None:
    """The verdict Lean's own answer forces, or None when it shows no error and no sorry.

    * an error that is Lean's heartbeat limit -> failed (distinct from our wall-clock timeout);
    * errors that are all ``unsolved goals`` -> incomplete; any other error -> failed;
    * a ``sorry`` (the ``sorries`` field, or the sorry warning where a REPL omits the field) -> incomplete.
    """
    errors = resp.errors
    if errors:
        hb = [m for m in errors if HEARTBEATS.search(m.data)]
        if hb:
            return "failed", "Lean's heartbeat limit (maxHeartbeats) was reached: " + _first_line(hb[0])
        if all(UNSOLVED.match(m.data) for m in errors):
            return "incomplete", "unsolved goals: " + _first_line(errors[0])
        return "failed", f"Lean reported {len(errors)} error(s); first: " + _first_line(errors[0])
    if resp.sorries:
        return "incomplete", f"the proof contains {len(resp.sorries)} `sorry`"
    warned = [m for m in resp.messages or [] if m.severity == "warning" and SORRY_WARNING.search(m.data)]
    if warned:
        return "incomplete", "the proof contains a `sorry` (" + _first_line(warned[0]) + ")"
    return None


def lean_clean(resp: CommandResponse) -> bool:
    """Whether the soundness follow-up is worth running: Lean saw no error and no sorry."""
    return classify_body(resp) is None
