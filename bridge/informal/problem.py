"""The one informal problem record: a problem in prose with a gold answer (LaTeX)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class InformalProblem:
    id: str
    split: str
    problem: str
    answer: str  # the gold answer, LaTeX (GSM8K: the number after ####; MATH: the solution's last \boxed{})
    solution: str = ""  # a reference solution, when the source has one
    level: int | None = None  # MATH-style difficulty 1-5, when the source has one
    band: str | None = None  # simple / intermediate / advanced (from the level, or given)
    source: str = ""  # where the row came from (the dataset, or the row's own `source` field)
    formal_statement: str = ""  # a Lean statement of the same problem, when the row has one
    header: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InformalProblem:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
