"""The one problem record used everywhere (prove, report, bands, training data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BANDS = ("simple", "intermediate", "advanced", "lean-formalized")


@dataclass
class Problem:
    id: str
    split: str
    header: str
    formal_statement: str
    informal_statement: str = ""
    informal_solution: str = ""  # a solution or the answer, when the source has one
    source: str = ""
    band: str | None = None
    tags: list[str] = field(default_factory=list)
    name: str = ""  # the declaration name (ids of duplicated names carry a suffix; the name does not)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Problem:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
