"""Curriculum bands: simple, intermediate, advanced (informal difficulty) and lean-formalized (a
verified Lean proof exists). A prior comes from source metadata; measured solve rates replace it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.data.problem import Problem

if TYPE_CHECKING:
    from bridge.config import BridgeConfig
    from bridge.data.specs import DatasetSpec

_LEVEL = re.compile(r"^level[:_ ]?(\d)$", re.I)


def prior_band(problem: Problem, prefix_rules: dict[str, str], default: str | None) -> str | None:
    """From metadata: a MATH level tag (1-2 simple, 3-4 intermediate, 5 advanced), else the name prefix."""
    for t in problem.tags:
        m = _LEVEL.match(t)
        if m:
            level = int(m.group(1))
            return "simple" if level <= 2 else "intermediate" if level <= 4 else "advanced"
    name = problem.name or problem.id
    for prefix in sorted(prefix_rules, key=len, reverse=True):  # the longest prefix wins (aimeI before aime)
        if name.startswith(prefix):
            return prefix_rules[prefix]
    return default


def band_from_rate(solve_rate: float | None, verified: bool, prior: str | None) -> str | None:
    """A problem with a verified proof is lean-formalized; a measured solve rate overrides the prior."""
    if verified:
        return "lean-formalized"
    if solve_rate is None:
        return prior
    if solve_rate >= 0.5:
        return "simple"
    if solve_rate >= 0.05:
        return "intermediate"
    return "advanced"


def band_file(cfg: BridgeConfig, dataset: str) -> Path:
    return Path(cfg.cache_dir) / "bands" / f"{dataset}.json"


def stored_bands(cfg: BridgeConfig, dataset: str) -> dict[str, str]:
    f = band_file(cfg, dataset)
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


def apply_bands(problems: Iterable[Problem], spec: DatasetSpec, cfg: BridgeConfig) -> None:
    stored = stored_bands(cfg, spec.name)
    for p in problems:
        p.band = stored.get(p.id) or prior_band(p, spec.band_rules, spec.default_band)


def update_bands(cfg: BridgeConfig, dataset: str, problems: list[Problem],
                 rates: dict[str, tuple[int, int]], spec: DatasetSpec) -> dict[str, str]:
    """Record bands from measured (samples, proved) counts per problem id; returns the new table."""
    table = stored_bands(cfg, dataset)
    for p in problems:
        if p.id not in rates:
            continue
        n, c = rates[p.id]
        prior = prior_band(p, spec.band_rules, spec.default_band)
        table[p.id] = band_from_rate(c / n if n else None, c > 0, prior) or prior or "advanced"
    f = band_file(cfg, dataset)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
    for p in problems:
        p.band = table.get(p.id, p.band)
    return table

