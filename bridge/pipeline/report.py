"""The pipeline's report: per-stage yields (in, out) and ``simple_to_lean``, from each stage's own report.
Pure functions; writing at the edge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridge.informal.problem import InformalProblem
from bridge.informal.report import simple_to_lean
from bridge.pipeline.plan import Plan

NO_ANSWER = {"", "proof", "none", "null", "n/a", "-"}  # a problem that asks for a proof, not an answer


def carried_answer(answer: str | None) -> str:
    """The answer a statement must carry: none for a proof problem (NuminaMath writes "proof")."""
    a = (answer or "").strip()
    return "" if a.lower() in NO_ANSWER else a


def _rate(a: int, b: int) -> float | None:
    return a / b if b else None


def stage(name: str, n_in: int, n_out: int, unit: str, **more: Any) -> dict[str, Any]:
    return {"stage": name, "in": n_in, "out": n_out, "yield": _rate(n_out, n_in), "unit": unit, **more}


def proved_by_problem(formalize: Any) -> dict[str, bool]:
    """informal problem id -> whether one of its formalizations has a verified proof."""
    out: dict[str, bool] = {}
    for f, _row in formalize.survivors:
        r = f.results.get("proved")
        out[f.problem_id] = out.get(f.problem_id, False) or bool(r is not None and r.passed)
    return out


def build_report(plan: Plan, problems: list[InformalProblem], solve: dict[str, Any], formalize: Any,
                 prove: dict[str, Any] | None, synth: Any, train: dict[str, Any], iterate: dict[str, Any] | None,
                 results: dict[str, Any]) -> dict[str, Any]:
    n = len(problems)
    fr = formalize.report
    proved = proved_by_problem(formalize)
    formal = {p.id: proved.get(p.id, False) for p in problems}
    s2l = simple_to_lean(problems, results, formal, "prove") or {}
    reached = sum(1 for v in formal.values() if v)
    s2l = {**s2l, "informal_problems": n, "reached_lean": reached, "rate": _rate(reached, n)}
    s2l.pop("rows", None)
    n_ms = str(solve.get("samples"))
    stages = [
        stage("solve", n, int(solve.get("solved") or 0), "problems solved informally (a correct sample)",
              samples=solve.get("samples_total"), maj_at_k=solve.get("maj_at_k", {}).get(n_ms),
              pass_at_k=solve.get("pass_at_k"), rft_rows=(solve.get("rft") or {}).get("rows")),
        stage("formalize", n, int(fr.get("statements_with_survivor") or 0), "problems with a surviving statement",
              candidates=fr.get("candidates"), survivors=fr.get("survivors"), compile_rate=fr.get("compile_rate")),
        stage("prove", int(fr.get("survivors") or 0), int(fr.get("proved") or 0), "survivors with a verified proof",
              samples=(prove or {}).get("samples_total") if prove else None,
              statements_proved=fr.get("statements_proved")),
        stage("synth", int(synth.report.get("seeds") or 0), int(synth.report.get("kept") or 0),
              "verified proofs -> verified synthetic theorems"),
        stage("train", int(train["informal"]) + int(train["lean"]), int(train["rows"]), "training rows",
              informal=train["informal"], lean=train["lean"], by_band=train["by_band"]),
    ]
    if iterate is not None:
        stages.append(stage("iterate", int(plan.iterate.rounds), int(iterate.get("rounds") or 0), "rounds finished",
                            code=iterate.get("code")))
    return {"kind": "pipeline", "input": plan.input, "problems": n, "stages": stages, "simple_to_lean": s2l,
            "models": {"solve": plan.solve.model, "formalize": plan.formalize.model, "prove": plan.prove.model},
            "outputs": {"solve": "solve/", "formalize": "formalize/formalized.jsonl", "proved": "formalize/proved.jsonl",
                        "prove": "prove/", "synth": "synth/synthetic.jsonl", "train": "train.jsonl",
                        "train_informal": "train_informal.jsonl", "train_lean": "train_lean.jsonl"}}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    out = [f"# Pipeline: {report['input']}", "", f"{report['problems']} informal problem(s).", "",
           "| stage | in | out | yield | what out counts |", "|---|---:|---:|---:|---|"]
    for s in report["stages"]:
        out.append(f"| {s['stage']} | {s['in']} | {s['out']} | {_pct(s['yield'])} | {s['unit']} |")
    s2l = report["simple_to_lean"]
    out += ["", f"simple_to_lean: {s2l['reached_lean']} of {s2l['informal_problems']} informal problem(s) reach a "
            f"verified Lean proof ({_pct(s2l['rate'])}); solved informally {s2l.get('solved_informally', 0)}, both "
            f"{s2l.get('both', 0)}, informal only {s2l.get('informal_only', 0)}, formal only {s2l.get('formal_only', 0)}, "
            f"neither {s2l.get('neither', 0)}."]
    train = next(s for s in report["stages"] if s["stage"] == "train")
    out += ["", "Training rows by band: " + (", ".join(f"{b} {k}" for b, k in train["by_band"].items()) or "none")]
    return "\n".join(out) + "\n"


def write_report(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    paths = []
    for name, text in (("report.json", json.dumps(report, indent=1, ensure_ascii=False)), ("report.md", markdown(report))):
        p = Path(run_dir) / name
        tmp = p.with_name(p.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        paths.append(p)
    return paths
