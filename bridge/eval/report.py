"""A run's report: ``report.json`` (read by other tools), ``report.md``, and a pass@k curve PNG."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bridge.eval.passk import default_ks, mean_pass_at_k
from bridge.runs.store import RunStore

ESTIMATOR = ("unbiased estimator of Chen et al. (2021), 1 - C(n-c,k)/C(n,k), averaged over problems; "
             "the prover papers report pass@k as the fraction solved within the first k samples or as "
             "block means, which equals this only for k = n")


def build_report(store: RunStore) -> dict[str, Any]:
    meta = store.meta()
    problems = store.problems()
    rows = store.samples()
    per: dict[str, dict[str, Any]] = {p.id: {"n": 0, "c": 0, "first_proof": None} for p in problems}
    rounds: dict[int, dict[str, int]] = defaultdict(lambda: {"samples": 0, "verified": 0, "proved": 0})
    solved_by_round: dict[int, set[str]] = defaultdict(set)
    for s, v in sorted(rows, key=lambda t: (t[0].round, t[0].idx)):
        r = rounds[s.round]
        r["samples"] += 1
        if v is None:
            continue
        r["verified"] += 1
        if v.verdict == "proved":
            r["proved"] += 1
            solved_by_round[s.round].add(s.problem_id)
        if s.round != 0 or s.problem_id not in per:
            continue
        d = per[s.problem_id]
        d["n"] += 1
        if v.verdict == "proved":
            d["c"] += 1
            if d["first_proof"] is None:
                d["first_proof"] = s.body
    n_max = max((d["n"] for d in per.values()), default=0)
    ks = default_ks(meta.get("samples", n_max) or n_max) if n_max else []

    def group(ids: list[str]) -> dict[str, Any]:
        counts = [(per[i]["n"], per[i]["c"]) for i in ids if per[i]["n"] > 0]
        return {
            "problems": len(ids),
            "solved": sum(1 for i in ids if per[i]["c"] > 0),
            "pass_at_k": {str(k): mean_pass_at_k(counts, k) for k in ks},
        }

    by_split: dict[str, list[str]] = defaultdict(list)
    by_band: dict[str, list[str]] = defaultdict(list)
    for p in problems:
        by_split[p.split].append(p.id)
        by_band[p.band or "(none)"].append(p.id)
    overall = group([p.id for p in problems])
    corrected = solved_by_round.copy()
    rounds_out = {}
    solved0 = solved_by_round.get(0, set())
    cumulative = set(solved0)
    for r in sorted(rounds):
        if r == 0:
            continue
        cumulative |= corrected.get(r, set())
        rounds_out[str(r)] = {**rounds[r], "problems_newly_solved": len(corrected.get(r, set()) - solved0),
                              "problems_solved_cumulative": len(cumulative)}
    return {
        "pass_at_k": overall["pass_at_k"],
        "solved": overall["solved"],
        "problems_total": overall["problems"],
        "estimator": ESTIMATOR,
        "by_split": {k: group(v) for k, v in sorted(by_split.items())},
        "by_band": {k: group(v) for k, v in sorted(by_band.items())},
        "rounds": rounds_out,
        "samples_verified": rounds[0]["verified"] if 0 in rounds else 0,
        "samples_total": rounds[0]["samples"] if 0 in rounds else 0,
        "model": meta.get("model"),
        "template": meta.get("template"),
        "sampling": meta.get("sampling"),
        "lean_version": meta.get("lean_version"),
        "dataset": meta.get("dataset"),
        "split": meta.get("split"),
        "problems": [
            {"id": p.id, "split": p.split, "band": p.band, "n": per[p.id]["n"], "c": per[p.id]["c"],
             "solved": per[p.id]["c"] > 0, "first_proof": per[p.id]["first_proof"]}
            for p in problems
        ],
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def write_report(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    run_dir = Path(run_dir)
    out = [run_dir / "report.json", run_dir / "report.md", run_dir / "passk.png"]
    tmp = out[0].with_suffix(".json.part")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out[0])
    ks = list(report["pass_at_k"])
    lines = [
        f"# bridge run: {report.get('dataset')} ({report.get('split')})",
        "",
        f"- model: `{report.get('model')}`, template: `{report.get('template')}`",
        f"- sampling: `{json.dumps(report.get('sampling'))}`",
        f"- Lean: {report.get('lean_version')}",
        f"- solved: {report['solved']} / {report['problems_total']} problems; "
        f"{report['samples_verified']} of {report['samples_total']} samples verified",
        f"- pass@k: {report['estimator']}",
        "",
        "| group | problems | solved | " + " | ".join(f"pass@{k}" for k in ks) + " |",
        "|---|---|---|" + "---|" * len(ks),
        f"| all | {report['problems_total']} | {report['solved']} | "
        + " | ".join(_fmt(report["pass_at_k"][k]) for k in ks) + " |",
    ]
    for kind in ("by_split", "by_band"):
        for name, g in report[kind].items():
            lines.append(f"| {kind[3:]}: {name} | {g['problems']} | {g['solved']} | "
                         + " | ".join(_fmt(g["pass_at_k"].get(k)) for k in ks) + " |")
    if report["rounds"]:
        lines += ["", "## Error-feedback rounds (not counted in pass@k)", "",
                  "| round | samples | proved | problems newly solved | solved cumulative |", "|---|---|---|---|---|"]
        for r, d in report["rounds"].items():
            lines.append(f"| {r} | {d['samples']} | {d['proved']} | {d['problems_newly_solved']} | "
                         f"{d['problems_solved_cumulative']} |")
    lines += ["", "## Problems", "", "| id | split | band | n | c | first verified proof |", "|---|---|---|---|---|---|"]
    for p in report["problems"]:
        proof = (p["first_proof"] or "").strip().replace("\n", "⏎ ").replace("|", "\\|")[:160]
        lines.append(f"| {p['id']} | {p['split']} | {p['band']} | {p['n']} | {p['c']} | {'`' + proof + '`' if proof else ''} |")
    out[1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    _plot(report, out[2])
    return out


def _plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bridge.eval.passk import pass_at_k

    counts = [(p["n"], p["c"]) for p in report["problems"] if p["n"] > 0]
    n_min = min((n for n, _ in counts), default=0)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if n_min:
        ks = list(range(1, n_min + 1))
        ys = [100 * sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in ks]
        ax.plot(ks, ys, marker="o" if len(ks) < 20 else None)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("pass@k (%)")
    ax.set_title(f"{report.get('dataset')} {report.get('split') or ''}: {report.get('model')}"[:70], fontsize=9)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
