"""What the synthesis methods share: the item and seed records, the constants, tactic-text helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.verify.candidate import Candidate, from_parts
from bridge.verify.lean_text import declarations
from provers.formalize.statement import (
    identifiers,
)

METHODS = ("have-lift", "mutate", "conjecture")
LEAN_BAND = "lean-formalized"
STP_LEMMA = "theorem true: True"  # STP's lemma for "no particular direction"
DEFAULT_WINDOW = (0.0, 0.25)
MAX_PER_SEED = 3  # items kept per seed and method (`--max-per-seed`; 0: no cap)
VERDICTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS synth_verdicts (item_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, data TEXT NOT NULL,
    created REAL);
"""


@dataclass(frozen=True)
class Seed:
    """A verified proof to synthesise from."""

    id: str  # the sample id (a run's PROBLEM/ROUND/INDEX) or the data row's id
    problem_id: str
    header: str
    statement: str  # ends in `:= by`
    proof: str  # the tactic block after `:= by`
    helpers: str = ""
    source: str = ""
    model: str | None = None


@dataclass
class SynthItem:
    id: str
    method: str
    parent: str  # the seed's id
    header: str
    statement: str
    proof: str
    provenance: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # have-lift: the variants of one `have`, in order; the first proved is kept

    def candidate(self) -> Candidate:
        return from_parts(self.id, self.header, self.statement, self.proof)


@dataclass(frozen=True)
class Skip:
    """A proposal that could not be made, and why (reported, never silent)."""

    seed: str
    method: str
    kind: str
    reason: str


# -- tactic text ----------------------------------------------------------------------------------------


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def tactic_lines(proof: str) -> list[str]:
    """The proof's tactic block as lines, dedented (a proof on the statement's own line is one line)."""
    lines = proof.split("\n")
    first = lines[0].strip()
    rest = [ln.rstrip() for ln in lines[1:]]
    body = [ln for ln in rest if ln.strip()]
    cut = min((indent_of(ln) for ln in body), default=0)
    out = ([first] if first else []) + [ln[cut:] if ln.strip() else "" for ln in rest]
    while out and not out[-1].strip():
        out.pop()
    return out


def indented(lines: list[str], n: int) -> str:
    pad = " " * n
    return "".join((pad + ln if ln.strip() else "") + "\n" for ln in lines)


def helper_names(helpers: str) -> set[str]:
    return {d.group("name") for d in declarations(helpers) if d.group("name")}


def names_used(text: str, names: set[str]) -> list[str]:
    ids = identifiers(text)
    return sorted(n for n in names if n in ids)
