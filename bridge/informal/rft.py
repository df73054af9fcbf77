"""Rejection-sampling (RFT) data: a run's correct, deduplicated solutions as training rows.

Rows are the prompt/completion JSONL ``bridge train sft`` reads (``bridge.train.data.rows_for_training``:
``prompt`` and ``completion`` used as they are) and ``bridge iterate --informal`` mixes
(``bridge.train.data.read_informal``: ``band`` one of simple/intermediate/advanced): ``prompt`` (the solve
prompt, the family's chat markup written out), ``completion`` (the model's solution; TIR: with its code
and real outputs), ``problem_id``, ``band``, ``source``, and ``id``, ``sample_id``, ``round``, ``answer``.

A problem's band is the one its measured solve rate gives (:func:`bridge.data.bands.band_from_rate`: rate
>= 0.5 simple, >= 0.05 intermediate, else advanced), the source's level being only the prior.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge.data.bands import band_from_rate

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    problem_id: str
    sample_id: str
    prompt: str
    completion: str
    answer: str | None


@dataclass(frozen=True)
class RftRow:
    prompt: str
    completion: str
    problem_id: str
    band: str
    source: str
    id: str
    sample_id: str
    answer: str | None
    round: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _key(text: str) -> str:
    return _WS.sub(" ", text).strip()


def select(correct: Iterable[Candidate], per_problem: int) -> list[Candidate]:
    """At most ``per_problem`` correct solutions per problem: one per text (whitespace folded), shortest
    first, problems in order of first appearance."""
    groups: dict[str, dict[str, Candidate]] = {}
    for c in correct:
        g = groups.setdefault(c.problem_id, {})
        k = _key(c.completion)
        if k not in g or len(c.completion) < len(g[k].completion):
            g[k] = c
    out: list[Candidate] = []
    for g in groups.values():
        out += sorted(g.values(), key=lambda c: (len(c.completion), c.sample_id))[:per_problem]
    return out


def band_for(rate: float, prior: str | None) -> str:
    return band_from_rate(rate, False, prior) or "advanced"


def rows(selected: Sequence[Candidate], rates: dict[str, float], priors: dict[str, str | None],
         source: str) -> list[RftRow]:
    return [RftRow(c.prompt, c.completion, c.problem_id, band_for(rates[c.problem_id], priors.get(c.problem_id)),
                   source, c.sample_id, c.sample_id, c.answer) for c in selected]


def write_rows(path: Path, out: Sequence[RftRow]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)
