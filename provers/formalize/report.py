"""The funnel's report: per-stage yield (overall, per source, per informal statement) as ``report.json``
and ``report.md``. Pure functions over the candidates' stage results; writing at the edge."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bridge.data.problem import Problem
from provers.formalize.stages import PROVED, Formalization


def _rate(a: int, b: int) -> float | None:
    return a / b if b else None


def stage_table(forms: list[Formalization], stages: tuple[str, ...], proved: bool = False) -> list[dict[str, Any]]:
    """One row per stage: decided (entered), passed, its pass rate, the survivors after it as a share of
    all candidates, and why candidates were dropped there (by kind, most frequent first). ``proved``
    (``--prove N``): a last row for the proof stage, which only the funnel's survivors enter."""
    total = len(forms)
    rows: list[dict[str, Any]] = [{"stage": "generated", "entered": total, "passed": total, "pass_rate": 1.0 if total else None,
                                   "yield": 1.0 if total else None, "pending": 0, "dropped": {}}]
    for s in stages:
        decided = [f.results[s] for f in forms if s in f.results]
        passed = sum(1 for r in decided if r.passed)
        pending = sum(1 for f in forms if f.status(stages) == f"pending:{s}")
        dropped = Counter(r.kind for r in decided if not r.passed)
        rows.append({"stage": s, "entered": len(decided), "passed": passed, "pass_rate": _rate(passed, len(decided)),
                     "yield": _rate(passed, total), "pending": pending, "dropped": dict(dropped.most_common())})
    if proved:
        survivors = [f for f in forms if f.status(stages) == "survived"]
        decided = [f.results[PROVED] for f in survivors if PROVED in f.results]
        passed = sum(1 for r in decided if r.passed)
        dropped = Counter(r.kind for r in decided if not r.passed)
        rows.append({"stage": PROVED, "entered": len(decided), "passed": passed, "pass_rate": _rate(passed, len(decided)),
                     "yield": _rate(passed, total), "pending": len(survivors) - len(decided),
                     "dropped": dict(dropped.most_common())})
    return rows


def _group(forms: list[Formalization], problems: list[Problem], stages: tuple[str, ...]) -> dict[str, Any]:
    survivors = [f for f in forms if f.status(stages) == "survived"]
    elaborated = sum(1 for f in forms if f.results.get("elaborates") is not None and f.results["elaborates"].passed)
    with_survivor = {f.problem_id for f in survivors}
    filters = {r["stage"]: r["pass_rate"] for r in stage_table(forms, stages)[1:]}
    return {"statements": len(problems), "candidates": len(forms),
            "compile_rate": _rate(elaborated, len(forms)), "filter_pass_rate": filters, "survivors": len(survivors),
            "survivors_per_statement": _rate(len(survivors), len(problems)),
            "statements_with_survivor": len(with_survivor)}


def build_report(forms: list[Formalization], problems: list[Problem], stages: tuple[str, ...],
                 meta: dict[str, Any], proved: bool = False) -> dict[str, Any]:
    by_id = {p.id: p for p in problems}
    sources: dict[str, list[Problem]] = {}
    for p in problems:
        sources.setdefault(p.source or "input", []).append(p)
    per_source = {}
    for src, ps in sources.items():
        ids = {p.id for p in ps}
        per_source[src] = _group([f for f in forms if f.problem_id in ids], ps, stages)
    statements = []
    for p in problems:
        mine = [f for f in forms if f.problem_id == p.id]
        fates = Counter(f.status(stages) for f in mine)
        statements.append({"id": p.id, "source": p.source, "candidates": len(mine),
                           "survivors": fates.get("survived", 0), "dropped_at": {k: v for k, v in fates.items()
                                                                                if k != "survived"}})
    overall = _group(forms, problems, stages)
    extra: dict[str, Any] = {}
    if proved:
        done = [f for f in forms if f.results.get(PROVED) is not None and f.results[PROVED].passed]
        extra = {"proved": len(done), "statements_proved": len({f.problem_id for f in done})}
        for st in statements:
            st["proved"] = sum(1 for f in done if f.problem_id == st["id"])
    return {"kind": "formalize", **meta, "stages": list(stages), "funnel": stage_table(forms, stages, proved), **extra,
            **{k: overall[k] for k in ("statements", "candidates", "compile_rate", "filter_pass_rate", "survivors",
                                       "survivors_per_statement", "statements_with_survivor")},
            "by_source": per_source, "problems": statements,
            "unknown_problems": sorted({f.problem_id for f in forms if f.problem_id not in by_id})}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    out = [f"# Autoformalization funnel: {report.get('input', '')}", ""]
    out.append(f"- model: {report.get('model')} (template {report.get('template')}), {report.get('candidates_per_statement')} "
               f"candidate(s) per statement; judges: {', '.join(report.get('judges') or []) or '-'} "
               f"({report.get('votes')} vote(s) each, rule {report.get('vote_rule')})")
    out.append(f"- tactic budget: `{' | '.join(report.get('budget') or [])}`; decontamination against: "
               f"{', '.join(report.get('decontam') or []) or 'none'}; Lean {report.get('lean_version')}")
    out.append(f"- {report['statements']} informal statement(s), {report['candidates']} candidate(s): compile rate "
               f"{_pct(report['compile_rate'])}, {report['survivors']} survivor(s) "
               f"({report['survivors_per_statement'] or 0:.2f} per statement; {report['statements_with_survivor']} "
               "statement(s) with at least one)")
    if "proved" in report:
        out.append(f"- proved (--prove {report.get('prove')}): {report['proved']} survivor(s) with a verified proof, "
                   f"{report['statements_proved']} informal statement(s) reach a verified Lean proof")
    out += ["", "## Funnel", "", "| stage | entered | passed | pass rate | survivors (of all) | pending | dropped because |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for r in report["funnel"]:
        why = "; ".join(f"{k} ({v})" for k, v in list(r["dropped"].items())[:4])
        out.append(f"| {r['stage']} | {r['entered']} | {r['passed']} | {_pct(r['pass_rate'])} | {_pct(r['yield'])} | "
                   f"{r['pending']} | {why} |")
    out += ["", "## By source", "", "| source | statements | candidates | compile rate | survivors | per statement |",
            "|---|---:|---:|---:|---:|---:|"]
    for src, g in report["by_source"].items():
        out.append(f"| {src} | {g['statements']} | {g['candidates']} | {_pct(g['compile_rate'])} | {g['survivors']} | "
                   f"{g['survivors_per_statement'] or 0:.2f} |")
    out += ["", "## Statements", "", "| id | candidates | survivors | dropped at |", "|---|---:|---:|---|"]
    for p in report["problems"]:
        at = ", ".join(f"{k} {v}" for k, v in p["dropped_at"].items())
        out.append(f"| {p['id']} | {p['candidates']} | {p['survivors']} | {at} |")
    return "\n".join(out) + "\n"


def write_report(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    run_dir = Path(run_dir)
    paths = []
    for name, text in (("report.json", json.dumps(report, indent=1, ensure_ascii=False)), ("report.md", markdown(report))):
        p = run_dir / name
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        paths.append(p)
    return paths
