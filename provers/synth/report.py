"""The run's report (pure): per method and per source, and every decontaminated item."""

from __future__ import annotations

import dataclasses
from typing import Any

from provers.formalize.stages import (
    StageResult,
)
from provers.synth.common import Seed, Skip, SynthItem

# -- the report (pure) -----------------------------------------------------------------------------------


def build_report(seeds: list[Seed], out: dict[str, Any], skips: list[Skip], strict: tuple[bool, str | None],
                 meta: dict[str, Any], conjecture: dict[str, Any]) -> dict[str, Any]:
    items: list[SynthItem] = out.get("items", [])
    screened = {it.id for it in out.get("screened", [])}
    kept = {it.id for it in out.get("kept", [])}
    dropped: dict[str, StageResult] = out.get("dropped", {})
    why: dict[str, str] = out.get("why", {})
    by_method = {}
    for m in meta.get("methods", []):
        mine = [it for it in items if it.method == m]
        reasons: dict[str, int] = {}
        for it in mine:
            if it.id in dropped:
                k = dropped[it.id].kind
            elif it.id in why:
                k = why[it.id].split(":")[0]
            else:
                continue
            reasons[k] = reasons.get(k, 0) + 1
        for s in skips:
            if s.method == m:
                reasons[f"not proposed: {s.kind}"] = reasons.get(f"not proposed: {s.kind}", 0) + 1
        n_kept = sum(1 for it in mine if it.id in kept)
        by_method[m] = {"proposed": len(mine), "screened": sum(1 for it in mine if it.id in screened),
                        "verified": n_kept, "kept": n_kept, "items_per_proof": n_kept / len(seeds) if seeds else None,
                        "dropped": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}
    sources: dict[str, dict[str, Any]] = {}
    for s in seeds:
        g = sources.setdefault(s.source or "input", {"seeds": 0, "items": 0})
        g["seeds"] += 1
    parent_src = {s.id: s.source or "input" for s in seeds}
    for it in out.get("kept", []):
        sources[parent_src.get(it.parent, "input")]["items"] += 1
    for g in sources.values():
        g["items_per_proof"] = g["items"] / g["seeds"] if g["seeds"] else None
    return {"kind": "synth", **meta, "seeds": len(seeds), "proposed": len(items), "kept": len(kept),
            "items_per_proof": len(kept) / len(seeds) if seeds else None, "strict": strict[0],
            "strict_reason": strict[1], "by_method": by_method, "by_source": sources, "conjecture": conjecture or None,
            "decontaminated": decontaminated(items, dropped) + list((conjecture or {}).get("decontaminated", [])),
            "skipped": [dataclasses.asdict(s) for s in skips[:200]]}


def decontaminated(items: list[SynthItem], dropped: dict[str, StageResult]) -> list[dict[str, Any]]:
    """Every item dropped by decontamination, with the evaluation problem it matched and why (pure)."""
    out = []
    for it in items:
        r = dropped.get(it.id)
        if r is not None and r.stage == "uncontaminated":
            out.append({"id": it.id, "method": it.method, "against": r.data.get("against"),
                        "against_id": r.data.get("against_id"), "reason": r.reason, "score": r.data.get("score")})
    return out


def markdown(report: dict[str, Any]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    out = [f"# Synthetic theorems from {report.get('source')}", "",
           f"- {report['seeds']} verified proof(s) -> {report['kept']} verified synthetic item(s) "
           f"({f(report['items_per_proof'])} per proof); methods: {', '.join(report.get('methods', []))}",
           f"- re-verified by the gate; strict kernel re-check: "
           f"{'yes' if report['strict'] else 'no (' + str(report['strict_reason']) + ')'}",
           f"- decontamination against: {', '.join(report.get('decontam') or []) or 'none'}", "",
           "| method | proposed | passed screening | kept (verified) | items per proof | dropped because |",
           "|---|---:|---:|---:|---:|---|"]
    for m, g in report["by_method"].items():
        why = "; ".join(f"{k} ({v})" for k, v in list(g["dropped"].items())[:5])
        out.append(f"| {m} | {g['proposed']} | {g['screened']} | {g['kept']} | {f(g['items_per_proof'])} | {why} |")
    out += ["", "| source | verified proofs | items | items per proof |", "|---|---:|---:|---:|"]
    for src, g in report["by_source"].items():
        out.append(f"| {src} | {g['seeds']} | {g['items']} | {f(g['items_per_proof'])} |")
    c = report.get("conjecture")
    if c:
        out += ["", f"Conjectures: {c['generated']} generated; " + ", ".join(
            f"{k} {v['passed']}/{v['entered']}" for k, v in c["stages"].items())
            + f"; {c['measured']} measured with {c['samples']} samples; {c['in_window']} with a pass rate in "
            f"({c['window'][0]}, {c['window'][1]}]"]
    return "\n".join(out) + "\n"
