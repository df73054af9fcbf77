"""A ``bridge solve`` run's report: ``report.json`` (read by other tools), ``report.md``, ``passk.png`` and
``consensus.png``, and its RFT rows (``rft.jsonl``).

``build_solve_report`` reads the run store once and hands per-problem records to the pure functions of
:mod:`bridge.informal.metrics`. Contract keys: ``pass_at_k`` ({"1": ..., "N": ...}, unbiased, averaged
over problems), ``maj_at_k`` ({"N": ...}), ``consensus_rate``, ``consensus_pass_at_k`` and ``problems``
([{"id", "n", "c", "majority", "majority_correct"}, ...]).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.eval.passk import bootstrap_ci, default_ks, mean_pass_at_k, pass_at_k
from bridge.informal import rft
from bridge.informal.extract import split_steps
from bridge.informal.metrics import (
    Group,
    ProblemResult,
    Profile,
    consensus_pass_at_k,
    profile_summary,
    rank_by_score,
    summary,
)
from bridge.informal.problem import InformalProblem
from bridge.informal.store import Solution, SolveStore
from bridge.informal.tir import PYTHON_BLOCK

GRADE_KEY = {"math-verify": "correct", "strict": "strict", "substring": "substring"}
AGGREGATIONS = ("min", "last", "product")
ESTIMATORS = {
    "pass_at_k": "unbiased estimator of Chen et al. (2021), 1 - C(n-c,k)/C(n,k), averaged over problems",
    "maj_at_k": "the majority answer over all N samples is correct (answers grouped by the grader's "
                "equivalence; ties go to the answer seen first), averaged over problems with N samples",
    "consensus_rate": "share of a problem's samples in its majority group, averaged over problems",
    "consensus_pass_at_k": "P(the majority of k samples drawn without replacement is correct), exact, "
                           "averaged over problems; equals maj@N at k = N and pass@1 at k = 1",
    "selected_pass_at_k": "P(the sample a selector ranks best among k random samples is correct), exact; "
                          "majority: consensus_pass_at_k; prm:MODEL:AGG: by aggregated PRM step score",
}


# -- per-problem records (pure) ----------------------------------------------------------------------


def problem_result(p: InformalProblem, grades: dict[str, Any] | None, mode: str,
                   scores: dict[str, dict[int, dict[str, Any]]]) -> ProblemResult:
    """One problem's record under a grader: its correct samples, answer groups, and selector rankings."""
    if not grades:
        return ProblemResult(p.id, p.split, p.band, 0, 0, [])
    key = GRADE_KEY[mode]
    by_idx = {s["idx"]: s for s in grades["samples"]}
    correct = {i: bool(s[key]) for i, s in by_idx.items()}
    members = grades["groups"]["math-verify" if mode == "math-verify" else "normalised"]
    groups = [Group(tuple(m), by_idx[m[0]]["answer"], correct[m[0]]) for m in members if m]
    rankings = {}
    for scorer, per in scores.items():
        for agg in AGGREGATIONS:
            vals = {i: d[agg] for i, d in per.items() if i in correct and d.get(agg) is not None}
            if vals:
                rankings[f"prm:{scorer}:{agg}"] = rank_by_score(vals, correct)
    return ProblemResult(p.id, p.split, p.band, len(by_idx), sum(correct.values()), groups, rankings)


def simple_to_lean(problems: Sequence[InformalProblem], results: dict[str, ProblemResult],
                   formal: dict[str, bool] | None, formal_run: str | None) -> dict[str, Any] | None:
    """Problems with both an informal answer and a Lean statement (their row has one, or the formal run
    has the same id), informal and formal results side by side: solved informally (a correct sample),
    proved formally (a verified proof in the formal run), both, neither."""
    linked = [p for p in problems if p.formal_statement or (formal is not None and p.id in formal)]
    if not linked and formal is None:
        return None
    rows = []
    for p in linked:
        r = results[p.id]
        rows.append({"id": p.id, "split": p.split, "band": p.band, "solved_informally": r.c > 0,
                     "majority_correct": r.majority_correct,
                     "proved_formally": None if formal is None or p.id not in formal else formal[p.id]})
    known = [r for r in rows if r["proved_formally"] is not None]
    count = Counter((r["solved_informally"], r["proved_formally"]) for r in known)
    return {"formal_run": formal_run, "problems": len(rows), "in_formal_run": len(known),
            "solved_informally": sum(1 for r in rows if r["solved_informally"]),
            "proved_formally": sum(1 for r in known if r["proved_formally"]),
            "both": count[(True, True)], "informal_only": count[(True, False)],
            "formal_only": count[(False, True)], "neither": count[(False, False)], "rows": rows}


def _profile(sol: Solution, sample: dict[str, Any] | None, mode: str) -> Profile:
    return Profile(chars=len(sol.completion), steps=len(split_steps(sol.completion)),
                   code_blocks=len(PYTHON_BLOCK.findall(sol.completion)), executions=len(sol.executions),
                   answer_present=bool(sample and sample.get("answer") is not None),
                   correct=bool(sample and sample.get(GRADE_KEY[mode])))


def _ci(values: list[float]) -> list[float] | None:
    ci = bootstrap_ci(values)
    return None if ci is None else [ci[0], ci[1]]


# -- building ---------------------------------------------------------------------------------------


def formal_results(run_dir: Path) -> dict[str, bool]:
    """problem id -> proved, from a ``bridge prove`` run directory (fast-gate proofs as that run counted)."""
    from bridge.runs.store import RunStore

    with RunStore.open_existing(Path(run_dir)) as formal:
        count_fast = bool(formal.meta().get("count_fast_gate", False))
        solved = formal.solved(count_fast)
        return {p.id: p.id in solved for p in formal.problems()}


def build_solve_report(store: SolveStore) -> dict[str, Any]:
    meta = store.meta()
    mode = meta.get("grader") or "math-verify"
    problems = store.informal_problems()
    grades = store.grades()
    sols = store.solutions()
    sols_by: dict[str, list[Solution]] = defaultdict(list)
    for s in sols:
        sols_by[s.problem_id].append(s)
    raw_scores = store.step_scores()
    results: dict[str, ProblemResult] = {}
    for p in problems:
        idx_of = {s.id: s.idx for s in sols_by[p.id]}
        scores = {scorer: {idx_of[sid]: d for sid, d in per.items() if sid in idx_of}
                  for scorer, per in raw_scores.items()}
        results[p.id] = problem_result(p, grades.get(p.id), mode, scores)
    rows = [results[p.id] for p in problems]
    budget = int(meta.get("samples") or max((r.n for r in rows), default=0))
    ks = default_ks(budget) if budget else []
    overall = summary(rows, ks, budget)
    by_split: dict[str, list[ProblemResult]] = defaultdict(list)
    by_band: dict[str, list[ProblemResult]] = defaultdict(list)
    for r in rows:
        by_split[r.split].append(r)
        by_band[r.band or "(none)"].append(r)

    samples_of = {pid: {s["idx"]: s for s in g["samples"]} for pid, g in grades.items()}
    profiles = [_profile(s, samples_of.get(s.problem_id, {}).get(s.idx), mode) for s in sols]
    methods = Counter(s["method"] for g in grades.values() for s in g["samples"])
    controls = {}
    for name in GRADE_KEY:  # pass@k under each grader, whichever the run counts
        alt = [problem_result(p, grades.get(p.id), name, {}) for p in problems]
        controls[name] = {"pass_at_k": {str(k): mean_pass_at_k([(r.n, r.c) for r in alt if r.n], k) for k in ks}}
    graded = [s for g in grades.values() for s in g["samples"]]
    agreement = {f"{a}~{b}": (sum(1 for s in graded if bool(s[GRADE_KEY[a]]) == bool(s[GRADE_KEY[b]])) / len(graded)
                             if graded else None)
                 for a, b in (("math-verify", "strict"), ("math-verify", "substring"))}
    executions = [e for s in sols for e in s.executions]
    lean_run = meta.get("lean_run")
    formal = formal_results(Path(lean_run)) if lean_run else None
    report: dict[str, Any] = {
        "kind": "solve",
        "pass_at_k": overall["pass_at_k"],
        "pass_at_k_ci": {str(k): _ci([pass_at_k(r.n, r.c, k) for r in rows if r.n >= k]) for k in ks},
        "maj_at_k": overall["maj_at_k"],
        "consensus_rate": overall["consensus_rate"],
        "consensus_pass_at_k": overall["consensus_pass_at_k"],
        "selected_pass_at_k": overall["selected_pass_at_k"],
        "estimators": ESTIMATORS,
        "solved": overall["solved"],
        "problems_total": overall["problems"],
        "samples": budget,
        "samples_total": len(sols),
        "samples_graded": len(graded),
        "by_split": {k: summary(v, ks, budget) for k, v in sorted(by_split.items())},
        "difficulty_band_metrics": {k: summary(v, ks, budget) for k, v in sorted(by_band.items())},
        "response_profile_metrics": profile_summary(profiles),
        "grading": {"grader": mode, "methods": dict(methods), "controls": controls, "agreement": agreement,
                    "errors": [{"id": pid, "error": g["error"]} for pid, g in sorted(grades.items()) if g.get("error")]},
        "tir": {"rounds": meta.get("tir_rounds"), "executions": len(executions),
                "by_status": dict(Counter(e.status for e in executions))} if meta.get("mode") == "tir" else None,
        "simple_to_lean": simple_to_lean(problems, results, formal, lean_run),
        "model": meta.get("served_model") or meta.get("model"),
        "model_requested": meta.get("model"),
        "served_model": meta.get("served_model"),
        "template": meta.get("template"),
        "mode": meta.get("mode"),
        "sampling": meta.get("sampling"),
        "dataset": meta.get("dataset"),
        "split": meta.get("split"),
        # consensus.png's curves: pass@k and consensus pass@k at every k = 1..N, per band
        "consensus_curves": {band: band_curves(v, budget) for band, v in sorted(by_band.items())},
        "problems": [_problem_json(r) for r in rows],
    }
    return report


def band_curves(rows: Sequence[ProblemResult], budget: int) -> dict[str, Any]:
    """pass@k and consensus pass@k (the majority of k samples is correct) of one group at every k from 1
    to ``budget``, each over the problems with at least k samples."""
    sampled = [r for r in rows if r.n > 0]
    ks = list(range(1, budget + 1))

    def cons(r: ProblemResult, k: int) -> float:
        return consensus_pass_at_k([len(g.members) for g in r.groups], [g.correct for g in r.groups],
                                   r.n - sum(len(g.members) for g in r.groups), k)

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {"ks": ks, "problems": len(rows),
            "pass_at_k": [mean_pass_at_k([(r.n, r.c) for r in sampled], k) for k in ks],
            "consensus_pass_at_k": [mean([cons(r, k) for r in sampled if r.n >= k]) for k in ks]}


def _problem_json(r: ProblemResult) -> dict[str, Any]:
    m = r.majority
    return {"id": r.id, "split": r.split, "band": r.band, "n": r.n, "c": r.c,
            "majority": m.answer if m else None, "majority_correct": r.majority_correct,
            "majority_votes": len(m.members) if m else 0, "consensus": r.consensus if r.n else None,
            "answers": len(r.groups), "solved": r.c > 0}


# -- RFT rows ---------------------------------------------------------------------------------------


def rft_rows(store: SolveStore, report: dict[str, Any], per_problem: int) -> list[rft.RftRow]:
    """The run's correct solutions (under its grader), deduplicated, at most ``per_problem`` per problem."""
    key = GRADE_KEY[report["grading"]["grader"]]
    grades = store.grades()
    cands = []
    for s in store.solutions():
        g = grades.get(s.problem_id)
        sample = next((x for x in g["samples"] if x["idx"] == s.idx), None) if g else None
        if sample and sample.get(key):
            cands.append(rft.Candidate(s.problem_id, s.id, s.prompt, s.completion, sample.get("answer")))
    rates = {p["id"]: p["c"] / p["n"] for p in report["problems"] if p["n"]}
    priors = {p.id: p.band for p in store.informal_problems()}
    source = f"solve:{store.dir.name}:{report.get('model')}:{report.get('mode')}"
    return rft.rows(rft.select(cands, per_problem), rates, priors, source)


# -- writing ----------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    ks = list(report["pass_at_k"])
    n = str(report["samples"])
    lines = [f"# bridge solve: {report.get('dataset')} ({report.get('split') or 'all splits'})", "",
             f"- model: `{report.get('model')}`, template: `{report.get('template')}`, mode: {report.get('mode')}",
             f"- sampling: `{json.dumps(report.get('sampling'))}`, {n} samples per problem",
             f"- solved: {report['solved']} / {report['problems_total']} problems; "
             f"{report['samples_graded']} of {report['samples_total']} samples graded ({report['grading']['grader']})",
             ""]
    for name, text in report["estimators"].items():
        lines.append(f"- {name}: {text}")
    sel = [s for s in report["selected_pass_at_k"] if s != "majority"]
    heads = ["group", "problems", "solved", *(f"pass@{k}" for k in ks), f"maj@{n}", "consensus rate",
             f"consensus pass@{n}", *(f"{s} @{n}" for s in sel)]
    lines += ["", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    groups = [("all", report["problems_total"], report)]
    groups += [(f"split: {k}", v["problems"], v) for k, v in report["by_split"].items()]
    groups += [(f"band: {k}", v["problems"], v) for k, v in report["difficulty_band_metrics"].items()]
    for name, problems, g in groups:
        cells = [_fmt(g["pass_at_k"].get(k)) for k in ks] + [_fmt(g["maj_at_k"].get(n)), _fmt(g["consensus_rate"]),
                                                           _fmt(g["consensus_pass_at_k"].get(n))]
        cells += [_fmt(g["selected_pass_at_k"].get(s, {}).get(n)) for s in sel]
        lines.append(f"| {name} | {problems} | {g['solved']} | "
                     + " | ".join(cells) + " |")
    gr = report["grading"]
    lines += ["", "## Grading controls", "", "| grader | " + " | ".join(f"pass@{k}" for k in ks) + " |",
              "|---|" + "---|" * len(ks)]
    for name, c in gr["controls"].items():
        lines.append(f"| {name}{' (used)' if name == gr['grader'] else ''} | "
                     + " | ".join(_fmt(c["pass_at_k"].get(k)) for k in ks) + " |")
    lines += ["", "Decided by: " + ", ".join(f"{k} {v}" for k, v in sorted(gr["methods"].items())),
              "Agreement per sample: " + ", ".join(f"{k} {_fmt(v)}" for k, v in gr["agreement"].items())]
    if gr["errors"]:
        lines.append(f"Grading failed for {len(gr['errors'])} problem(s): " + "; ".join(
            f"{e['id']}: {e['error']}" for e in gr["errors"][:5]))
    prof = report["response_profile_metrics"]
    lines += ["", "## Response profiles", "", "| samples | n | chars | steps | code blocks | executions | answer present |",
              "|---|---|---|---|---|---|---|"]
    for part, d in prof.items():
        def num(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f}"
        lines.append(f"| {part} | {d['samples']} | {num(d['mean_chars'])} | {num(d['mean_steps'])} | "
                     f"{num(d['mean_code_blocks'])} | {num(d['mean_executions'])} | {_fmt(d['answer_present_rate'])} |")
    if report.get("tir"):
        t = report["tir"]
        lines += ["", f"TIR: {t['executions']} code runs (up to {t['rounds']} per solution): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(t["by_status"].items()))]
    s2l = report.get("simple_to_lean")
    if s2l:
        lines += ["", "## simple_to_lean: informal and formal results side by side", "",
                  f"formal run: {s2l['formal_run'] or '(none given: --lean-run)'}; {s2l['problems']} problem(s) with "
                  f"both, {s2l['in_formal_run']} in the formal run", "",
                  "| both | informal only | formal only | neither |", "|---|---|---|---|",
                  f"| {s2l['both']} | {s2l['informal_only']} | {s2l['formal_only']} | {s2l['neither']} |"]
    lines += ["", "## Problems", "", "| id | split | band | n | c | majority | majority correct | consensus |",
              "|---|---|---|---|---|---|---|---|"]
    for p in report["problems"]:
        maj = (p["majority"] or "").replace("|", "\\|").replace("\n", " ")[:60]
        lines.append(f"| {p['id']} | {p['split']} | {p['band']} | {p['n']} | {p['c']} | `{maj}` | "
                     f"{'yes' if p['majority_correct'] else 'no'} | {_fmt(p['consensus'])} |")
    return "\n".join(lines) + "\n"


def consensus_figure(report: dict[str, Any]) -> Any:
    """pass@k and consensus pass@k (majority correct) per band, on a fixed 0-100 % axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=100)
    colors = plt.get_cmap("tab10").colors
    curves = report.get("consensus_curves")
    if curves is None:  # a report written before every-k curves: its pass@k columns
        curves = {band: {"ks": [int(k) for k in g["pass_at_k"]], "problems": g["problems"],
                         "pass_at_k": list(g["pass_at_k"].values()),
                         "consensus_pass_at_k": [g["consensus_pass_at_k"].get(k) for k in g["pass_at_k"]]}
                  for band, g in report["difficulty_band_metrics"].items()}
    for i, (band, g) in enumerate(sorted(curves.items())):
        for key, style, what in (("pass_at_k", "-", "pass@k"), ("consensus_pass_at_k", "--", "consensus pass@k")):
            pts = [(k, 100 * v) for k, v in zip(g["ks"], g[key], strict=True) if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), linestyle=style, marker="o" if len(pts) < 20 else None, markersize=3,
                        color=colors[i % len(colors)], label=f"{band}: {what} ({g['problems']} problems)")
    ax.set_ylim(0, 100)
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("%")
    if report["samples"] > 1:
        ax.set_xscale("log", base=2)
        ticks = [2**i for i in range(int(report["samples"]).bit_length()) if 2**i <= report["samples"]]
        ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.grid(True, alpha=0.3)
    if ax.get_lines():  # below the axes, off the data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False, ncol=2)
    ax.set_title(f"{report.get('dataset')}: {report.get('model')} ({report.get('mode')}, n={report['samples']})"[:120],
                 fontsize=9)
    fig.tight_layout()
    return fig


def write_solve_report(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bridge.eval.report import figure
    from bridge.jsonl import write_json

    run_dir = Path(run_dir)
    out = [run_dir / "report.json", run_dir / "report.md", run_dir / "passk.png", run_dir / "consensus.png"]
    write_json(out[0], report)
    out[1].write_text(markdown(report), encoding="utf-8")
    for path, fig in ((out[2], figure([("", report)])), (out[3], consensus_figure(report))):
        fig.savefig(path, bbox_inches="tight")  # the legends sit below the axes
        plt.close(fig)
    return out


def finish(store: SolveStore, per_problem: int | None = None) -> tuple[dict[str, Any], list[Path]]:
    """Report and RFT rows of a run, written into its directory (after ``solve``, and again after
    ``prm score`` adds a selector). ``per_problem`` None: as the run was made."""
    meta = store.meta()
    m = int(per_problem if per_problem is not None else meta.get("rft_per_problem") or 4)
    report = build_solve_report(store)
    rows = rft_rows(store, report, m)
    path = store.dir / "rft.jsonl"
    rft.write_rows(path, rows)
    report["rft"] = {"path": str(path), "rows": len(rows), "per_problem": m}
    return report, [*write_solve_report(store.dir, report), path]
