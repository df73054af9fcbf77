"""A run's report: ``report.json`` (read by other tools), ``report.md``, and a pass@k curve PNG.

``build_report`` reads the run store once and hands the rest to pure functions over per-problem
counts; ``write_report`` / ``write_comparison`` do the writing (one run, or several overlaid).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.eval.passk import bootstrap_ci, default_ks, mean_pass_at_k, pass_at_k
from bridge.runs.store import RunStore
from bridge.verify.verdict import VERDICTS, Verdict

ESTIMATOR = ("unbiased estimator of Chen et al. (2021), 1 - C(n-c,k)/C(n,k), averaged over problems; "
             "the prover papers report pass@k as the fraction solved within the first k samples or as "
             "block means, which equals this only for k = n")
STOP_ON_FIRST_ESTIMATOR = (
    "stop-on-first: a problem's sampling stopped at its first verified proof, so problems have different "
    "sample counts and pass@k for k > 1 is not computable; reported instead: the fraction of problems "
    "solved within the budget of {budget} samples, the mean samples to the first proof (over solved "
    "problems, in sample order), and pass@1 from the first block of {block} samples, which every problem "
    "gets whatever its verdicts")
BOOTSTRAP = {"resamples": 1000, "seed": 0, "level": 0.95, "over": "problems"}
DEFAULT_FIRST_BLOCK = 4  # what `prove --stop-on-first` asks at once when the run did not record it


# -- per-problem records and pure summaries ---------------------------------------------------------


@dataclass
class ProblemCounts:
    """Round-0 samples of one problem: verified (n), counted as proved (c), and where the first proof is."""

    id: str
    split: str
    band: str | None
    n: int = 0
    c: int = 0
    first_proof: str | None = None
    first_proof_idx: int | None = None  # the sample index (0-based) of the first counted proof
    fast_gate: int = 0  # `proved` by the fast gate only (a stand-in REPL, not Lean)
    block_n: int = 0  # verified samples in the first block (stop-on-first pass@1)
    block_c: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "split": self.split, "band": self.band, "n": self.n, "c": self.c,
                "solved": self.c > 0, "first_proof": self.first_proof,
                "samples_to_first_proof": None if self.first_proof_idx is None else self.first_proof_idx + 1,
                "fast_gate": self.fast_gate}


def counts_as_solved(v: Verdict, count_fast_gate: bool, count_stand_in: bool = False) -> bool:
    """A fast-gate `proved` came from a REPL that is not Lean: solved only when asked (--count-fast-gate);
    a stand-in's only inside a demo run (``Verdict.counted``)."""
    return v.counted(count_fast_gate, count_stand_in)


_NUMBER = re.compile(r"(?<![\w'])\d+(?:\.\d+)?")
_LINE = re.compile(r"\bline \d+: ")


def error_kind(v: Verdict) -> str | None:
    """What went wrong, grouped: the gate's rule when one decided, else the reason's first line with
    positions and numbers folded (``line N``), so one Lean error counts once across samples."""
    if v.verdict == "proved":
        return None
    if v.rule:
        return f"rule {v.rule}"
    first = (v.reason or "").strip().splitlines()[0] if (v.reason or "").strip() else "(no reason)"
    return _NUMBER.sub("N", _LINE.sub("", first))[:160]


def _ci(values: list[float]) -> list[float] | None:
    ci = bootstrap_ci(values, BOOTSTRAP["resamples"], BOOTSTRAP["seed"], BOOTSTRAP["level"])
    return None if ci is None else [ci[0], ci[1]]


def group_summary(rows: list[ProblemCounts], ks: list[int], stop_on_first: bool, budget: int) -> dict[str, Any]:
    """pass@k (or, for stop-on-first, what can be computed) of one group of problems, with 95 % intervals."""
    sampled = [r for r in rows if r.n > 0]
    out: dict[str, Any] = {
        "problems": len(rows),
        "solved": sum(1 for r in rows if r.c > 0),
        "n_min": min((r.n for r in sampled), default=0),
        "n_max": max((r.n for r in sampled), default=0),
    }
    if stop_on_first:
        block = [r.block_c / r.block_n for r in rows if r.block_n > 0]
        out["pass_at_k"] = {"1": sum(block) / len(block) if block else None}
        out["pass_at_k_ci"] = {"1": _ci(block)}
        firsts = [r.first_proof_idx + 1 for r in rows if r.first_proof_idx is not None]
        out["solved_fraction"] = out["solved"] / len(rows) if rows else None
        out["solved_fraction_ci"] = _ci([1.0 if r.c > 0 else 0.0 for r in rows])
        out["mean_samples_to_first_proof"] = sum(firsts) / len(firsts) if firsts else None
        out["samples_drawn"] = sum(r.n for r in rows)
        out["budget"] = budget
        return out
    out["pass_at_k"] = {str(k): mean_pass_at_k([(r.n, r.c) for r in sampled], k) for k in ks}
    out["pass_at_k_ci"] = {str(k): _ci([pass_at_k(r.n, r.c, k) for r in sampled if r.n >= k]) for k in ks}
    return out


def error_table(verdicts: Iterable[Verdict]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Counts per verdict (every verdict named, zeros included) and per error kind, most frequent first."""
    per_verdict = dict.fromkeys(VERDICTS, 0)
    kinds: Counter[tuple[str, str]] = Counter()
    for v in verdicts:
        per_verdict[v.verdict] = per_verdict.get(v.verdict, 0) + 1
        kind = error_kind(v)
        if kind is not None:
            kinds[(v.verdict, kind)] += 1
    errors = [{"verdict": verdict, "kind": kind, "count": n}
              for (verdict, kind), n in sorted(kinds.items(), key=lambda t: (-t[1], t[0]))]
    return per_verdict, errors


# -- building ---------------------------------------------------------------------------------------


def build_report(store: RunStore, count_fast_gate: bool | None = None) -> dict[str, Any]:
    """The report of a run. ``count_fast_gate`` None: as the run was made (its ``count_fast_gate`` meta)."""
    meta = store.meta()
    count_fast = bool(meta.get("count_fast_gate", False)) if count_fast_gate is None else count_fast_gate
    count_stand_in = store.is_demo()  # a stand-in's verdicts (not Lean's) count in a demo run only
    stand_in_total = 0
    stop_on_first = bool(meta.get("stop_on_first", False))
    first_block = int(meta.get("first_block") or DEFAULT_FIRST_BLOCK)
    problems = store.problems()
    rows = store.samples()
    per: dict[str, ProblemCounts] = {p.id: ProblemCounts(p.id, p.split, p.band) for p in problems}
    rounds: dict[int, dict[str, int]] = defaultdict(lambda: {"samples": 0, "verified": 0, "proved": 0})
    solved_by_round: dict[int, set[str]] = defaultdict(set)
    round0: list[Verdict] = []
    fast_total = 0
    for s, v in sorted(rows, key=lambda t: (t[0].round, t[0].idx)):
        r = rounds[s.round]
        r["samples"] += 1
        if v is None:
            continue
        r["verified"] += 1
        fast = v.verdict == "proved" and v.gate == "fast"
        fast_total += fast
        stand_in_total += v.checker != "lean"
        counted = counts_as_solved(v, count_fast, count_stand_in)
        if counted:
            r["proved"] += 1
            solved_by_round[s.round].add(s.problem_id)
        if s.round != 0 or s.problem_id not in per:
            continue
        round0.append(v)
        d = per[s.problem_id]
        d.n += 1
        d.fast_gate += fast
        if s.idx < first_block:
            d.block_n += 1
            d.block_c += counted
        if counted:
            d.c += 1
            if d.first_proof_idx is None:
                d.first_proof, d.first_proof_idx = s.body, s.idx
    n_max = max((d.n for d in per.values()), default=0)
    budget = int(meta.get("samples") or n_max or 0)
    ks = [1] if stop_on_first else (default_ks(budget) if n_max and budget else [])

    by_split: dict[str, list[ProblemCounts]] = defaultdict(list)
    by_band: dict[str, list[ProblemCounts]] = defaultdict(list)
    for p in problems:
        by_split[p.split].append(per[p.id])
        by_band[p.band or "(none)"].append(per[p.id])
    overall = group_summary(list(per.values()), ks, stop_on_first, budget)
    rounds_out = {}
    solved0 = solved_by_round.get(0, set())
    cumulative = set(solved0)
    for r in sorted(rounds):
        if r == 0:
            continue
        cumulative |= solved_by_round.get(r, set())
        rounds_out[str(r)] = {**rounds[r], "problems_newly_solved": len(solved_by_round.get(r, set()) - solved0),
                              "problems_solved_cumulative": len(cumulative)}
    per_verdict, errors = error_table(round0)
    report: dict[str, Any] = {
        "pass_at_k": overall["pass_at_k"],
        "pass_at_k_ci": overall["pass_at_k_ci"],
        "bootstrap": dict(BOOTSTRAP),
        "mode": "stop-on-first" if stop_on_first else "pass@k",
        "stop_on_first": None,
        "solved": overall["solved"],
        "problems_total": overall["problems"],
        "samples": budget,
        "estimator": (STOP_ON_FIRST_ESTIMATOR.format(budget=budget, block=first_block) if stop_on_first
                      else ESTIMATOR),
        "by_split": {k: group_summary(v, ks, stop_on_first, budget) for k, v in sorted(by_split.items())},
        "by_band": {k: group_summary(v, ks, stop_on_first, budget) for k, v in sorted(by_band.items())},
        "rounds": rounds_out,
        "samples_verified": rounds[0]["verified"] if 0 in rounds else 0,
        "samples_total": rounds[0]["samples"] if 0 in rounds else 0,
        "verdicts": per_verdict,
        "errors": errors,
        "fast_gate": {"proved": fast_total, "counted": count_fast},
        # "stand-in": bridge's stand-in REPL decided (`bridge demo`), not Lean
        "checker": "stand-in" if stand_in_total or meta.get("checker") == "stand-in" else "lean",
        "stand_in": {"verdicts": stand_in_total, "counted": count_stand_in},
        # the model the server said it ran (an endpoint's `model` field) over the --model asked for
        "model": meta.get("served_model") or meta.get("model"),
        "model_requested": meta.get("model"),
        "served_model": meta.get("served_model"),
        "template": meta.get("template"),
        "sampling": meta.get("sampling"),
        "lean_version": meta.get("lean_version"),
        "dataset": meta.get("dataset"),
        "split": meta.get("split"),
        "problems": [per[p.id].to_json() for p in problems],
    }
    if stop_on_first:
        report["stop_on_first"] = {
            "budget": budget, "first_block": first_block, "solved": overall["solved"],
            "problems": overall["problems"], "solved_fraction": overall["solved_fraction"],
            "solved_fraction_ci": overall["solved_fraction_ci"],
            "mean_samples_to_first_proof": overall["mean_samples_to_first_proof"],
            "samples_drawn": overall["samples_drawn"]}
    return report


# -- curves (pure) ----------------------------------------------------------------------------------


@dataclass
class Curve:
    kind: str  # "split" | "band"
    name: str
    ks: list[int]
    ys: list[float]  # percent
    n: int  # samples per problem (the smallest over the group's sampled problems)
    problems: int
    label: str = ""
    style: dict[str, Any] = field(default_factory=dict)
    lo: list[float] = field(default_factory=list)  # 95 % bootstrap interval over problems, percent, per k
    hi: list[float] = field(default_factory=list)


def _bands(per_problem: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per k, the 95 % bootstrap interval (percent) of the mean over problems; ``per_problem[j][i]``: problem
    j's value at the i-th k. The same resamples at every k (``BOOTSTRAP``'s seed), so the band is smooth."""
    import numpy as np

    vals = np.asarray(per_problem, dtype=float)  # problems x ks
    rng = np.random.default_rng(BOOTSTRAP["seed"])
    idx = rng.integers(0, len(vals), size=(BOOTSTRAP["resamples"], len(vals)))
    q = ((1 - BOOTSTRAP["level"]) / 2, 1 - (1 - BOOTSTRAP["level"]) / 2)
    lo, hi = [], []
    for i in range(vals.shape[1]):
        a, b = np.quantile(vals[idx, i].mean(axis=1), q)
        lo.append(100 * float(a))
        hi.append(100 * float(b))
    return lo, hi


def curves(report: dict[str, Any]) -> list[Curve]:
    """One curve per split and per band: pass@k for k = 1..n, or for a stop-on-first run the fraction
    solved within the first k samples (the only curve such a run supports)."""
    stop = report.get("mode") == "stop-on-first"
    out = []
    for kind, key in (("split", "split"), ("band", "band")):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in report["problems"]:
            groups[p.get(key) or "(none)"].append(p)
        for name, ps in sorted(groups.items()):
            sampled = [p for p in ps if p["n"] > 0]
            if not sampled:
                continue
            if stop:
                budget = int(report.get("samples") or max(p["n"] for p in sampled))
                ks = list(range(1, budget + 1))
                firsts = [p.get("samples_to_first_proof") for p in sampled]
                per = [[1.0 if f is not None and f <= k else 0.0 for k in ks] for f in firsts]
                n = budget
            else:
                n = min(p["n"] for p in sampled)
                ks = list(range(1, n + 1))
                per = [[pass_at_k(p["n"], p["c"], k) for k in ks] for p in sampled]
            ys = [100 * sum(row[i] for row in per) / len(per) for i in range(len(ks))]
            lo, hi = _bands(per)
            out.append(Curve(kind, name, ks, ys, n, len(sampled), lo=lo, hi=hi))
    return out


# -- writing ----------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _fmt_ci(x: float | None, ci: list[float] | None) -> str:
    if x is None:
        return "-"
    return _fmt(x) + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def _mean(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _header_lines(report: dict[str, Any]) -> list[str]:
    model = f"`{report.get('model')}`"
    if report.get("served_model") and report.get("served_model") != report.get("model_requested"):
        model += f" (the server's name; asked for `{report.get('model_requested')}`)"
    fast = report.get("fast_gate") or {}
    lines = [
        f"# bridge run: {report.get('dataset')} ({report.get('split')})",
        "",
    ]
    if report.get("checker") == "stand-in":
        st = report.get("stand_in") or {}
        lines += [f"**stand-in verdicts, not Lean's**: {st.get('verdicts', 0)} verdict(s) were decided by bridge's "
                  "stand-in REPL (markers in the text), not by Lean; "
                  + ("they count here because this is a `bridge demo` run, and nowhere else."
                     if st.get("counted") else "they are NOT counted as solved."),
                  ""]
    lines += [
        f"- model: {model}, template: `{report.get('template')}`",
        f"- sampling: `{json.dumps(report.get('sampling'))}`, {report.get('samples')} samples per problem",
        f"- Lean: {report.get('lean_version')}",
        f"- solved: {report['solved']} / {report['problems_total']} problems; "
        f"{report['samples_verified']} of {report['samples_total']} samples verified",
    ]
    if report.get("mode") == "stop-on-first":
        lines.append("- **mode: stop-on-first** (no pass@k for k > 1)")
    if fast.get("proved"):
        lines.append(f"- fast gate: {fast['proved']} `proved` verdict(s) from a REPL that is not Lean "
                     f"(--allow-fast-gate), {'counted' if fast.get('counted') else 'NOT counted'} as solved"
                     + ("" if fast.get("counted") else " (--count-fast-gate counts them)"))
    lines.append(f"- {'estimates' if report.get('mode') == 'stop-on-first' else 'pass@k'}: {report['estimator']}")
    lines.append(f"- intervals: 95 % bootstrap over problems ({report['bootstrap']['resamples']} resamples, "
                 f"seed {report['bootstrap']['seed']})")
    return lines


def _group_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    overall = {"problems": report["problems_total"], "solved": report["solved"], "pass_at_k": report["pass_at_k"],
               "pass_at_k_ci": report.get("pass_at_k_ci", {}), **(report.get("stop_on_first") or {})}
    rows = [("all", overall)]
    for kind in ("by_split", "by_band"):
        rows += [(f"{kind[3:]}: {name}", g) for name, g in report[kind].items()]
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = _header_lines(report)
    lines.append("")
    if report.get("mode") == "stop-on-first":
        budget = report.get("samples")
        lines += [f"| group | problems | solved | solved within {budget} samples | mean samples to first proof "
                  "| pass@1 (first block) |", "|---|---|---|---|---|---|"]
        for name, g in _group_rows(report):
            lines.append(f"| {name} | {g['problems']} | {g['solved']} | "
                         f"{_fmt_ci(g.get('solved_fraction'), g.get('solved_fraction_ci'))} | "
                         f"{_mean(g.get('mean_samples_to_first_proof'))} | "
                         f"{_fmt_ci(g['pass_at_k'].get('1'), g.get('pass_at_k_ci', {}).get('1'))} |")
    else:
        ks = list(report["pass_at_k"])
        lines += ["| group | problems | solved | " + " | ".join(f"pass@{k}" for k in ks) + " |",
                  "|---|---|---|" + "---|" * len(ks)]
        for name, g in _group_rows(report):
            cis = g.get("pass_at_k_ci", {})
            lines.append(f"| {name} | {g['problems']} | {g['solved']} | "
                         + " | ".join(_fmt_ci(g["pass_at_k"].get(k), cis.get(k)) for k in ks) + " |")
    verdicts = report.get("verdicts") or {}
    if any(verdicts.values()):
        lines += ["", "## Verdicts (round 0)", "", "| verdict | samples |", "|---|---|"]
        fast = report.get("fast_gate") or {}
        for k, n in verdicts.items():
            if n and k == "proved" and fast.get("proved"):
                how = "counted" if fast.get("counted") else "not counted"
                lines.append(f"| {k} | {n} ({fast['proved']} by the fast gate, {how}) |")
            elif n:
                lines.append(f"| {k} | {n} |")
    if report.get("errors"):
        lines += ["", "## Errors by kind (round 0)", "", "| verdict | kind | samples |", "|---|---|---|"]
        for e in report["errors"][:25]:
            lines.append(f"| {e['verdict']} | {e['kind'].replace('|', chr(92) + '|')} | {e['count']} |")
        if len(report["errors"]) > 25:
            lines.append(f"| | ... {len(report['errors']) - 25} more kinds in report.json | |")
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
    return "\n".join(lines) + "\n"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def write_report(run_dir: Path, report: dict[str, Any]) -> list[Path]:
    run_dir = Path(run_dir)
    out = [run_dir / "report.json", run_dir / "report.md", run_dir / "passk.png"]
    _write_json(out[0], report)
    out[1].write_text(markdown(report), encoding="utf-8")
    fig = figure([("", report)])
    fig.savefig(out[2], bbox_inches="tight")  # the legends sit below the axes
    _close(fig)
    return out


def comparison_markdown(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """One table for several runs: pass@k at every k any of them has (stop-on-first runs: their own
    columns), with the 95 % intervals."""
    ks = sorted({int(k) for _, r in runs if r.get("mode") != "stop-on-first" for k in r["pass_at_k"]})
    lines = ["# bridge runs compared", "", "| run | model | dataset | split | n | problems | solved | "
             + " | ".join(f"pass@{k}" for k in ks) + " | stop-on-first: solved within budget |",
             "|---|---|---|---|---|---|---|" + "---|" * len(ks) + "---|"]
    for label, r in runs:
        stop = r.get("stop_on_first") or {}
        cells = [_fmt_ci(r["pass_at_k"].get(str(k)), (r.get("pass_at_k_ci") or {}).get(str(k)))
                 if r.get("mode") != "stop-on-first" else "-" for k in ks]
        sof = (_fmt_ci(stop.get("solved_fraction"), stop.get("solved_fraction_ci"))
               + f" (mean {_mean(stop.get('mean_samples_to_first_proof'))} samples to first proof)") if stop else "-"
        lines.append(f"| {label} | `{r.get('model')}` | {r.get('dataset')} | {r.get('split')} | {r.get('samples')} | "
                     f"{r['problems_total']} | {r['solved']} | " + " | ".join(cells) + f" | {sof} |")
    lines += ["", "Intervals: 95 % bootstrap over problems. pass@k: " + ESTIMATOR + "."]
    return "\n".join(lines) + "\n"


def write_comparison(out_dir: Path, runs: list[tuple[str, dict[str, Any]]]) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = [out_dir / "report.json", out_dir / "report.md", out_dir / "passk.png"]
    _write_json(out[0], {"runs": [{"label": label, **{k: v for k, v in r.items() if k != "problems"}}
                                  for label, r in runs]})
    out[1].write_text(comparison_markdown(runs), encoding="utf-8")
    fig = figure(runs)
    fig.savefig(out[2], bbox_inches="tight")
    _close(fig)
    return out


def figure(runs: list[tuple[str, dict[str, Any]]]) -> Any:
    """pass@k curves of one or several runs: splits on the left, bands on the right, a fixed 0-100 %
    axis so figures compare at a glance, n and the problem count in every legend entry. Each run has its
    own colour (one run: each curve has its own), each curve its 95 % bootstrap interval as a band; the
    legends sit below the axes, off the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100, sharey=True)
    colors = plt.get_cmap("tab10").colors if len(runs) <= 10 else plt.get_cmap("tab20").colors
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    styles = ["-", "--", ":", "-."]
    kmax = 1
    for ri, (label, report) in enumerate(runs):
        stop = report.get("mode") == "stop-on-first"
        for ax, kind in zip(axes, ("split", "band"), strict=True):
            for ci, c in enumerate(x for x in curves(report) if x.kind == kind):
                kmax = max(kmax, c.ks[-1])
                name = f"{label}: {c.name}" if label else c.name
                what = "solved within k, stop-on-first" if stop else "pass@k"
                # several runs: the colour is the run's, the line style the group's; one run: a colour per group
                color = colors[(ri if len(runs) > 1 else ci) % len(colors)]
                style = styles[ci % len(styles)] if len(runs) > 1 else "-"
                ax.plot(c.ks, c.ys, color=color, linestyle=style,
                        marker=markers[ci % len(markers)] if len(c.ks) < 20 else None, markersize=4,
                        label=f"{name} ({what}; n={c.n}, {c.problems} problems)")
                if c.lo and len(c.ks) > 1:
                    ax.fill_between(c.ks, c.lo, c.hi, color=color, alpha=0.15, linewidth=0)
                elif c.lo:  # one k: the interval as an error bar
                    ax.errorbar(c.ks, c.ys, yerr=[[c.ys[0] - c.lo[0]], [c.hi[0] - c.ys[0]]], color=color,
                                capsize=3, linestyle="none")
    for ax, kind in zip(axes, ("split", "band"), strict=True):
        ax.set_ylim(0, 100)
        if kmax > 1:
            ax.set_xscale("log", base=2)
            ticks = [2**i for i in range(kmax.bit_length()) if 2**i <= kmax]
            ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("k (samples)")
        ax.set_title(f"by {kind}", fontsize=9)
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.2), frameon=False,
                      title="shaded: 95 % bootstrap interval over problems", title_fontsize=7)
    axes[0].set_ylabel("pass@k (%)")
    if len(runs) == 1:
        r = runs[0][1]
        n_problems = r.get("problems_total")
        title = (f"{r.get('dataset')} {r.get('split') or ''}: {r.get('model')} "
                 f"(n={r.get('samples')} samples per problem, {n_problems} problems)")
        if r.get("checker") == "stand-in":
            title = "STAND-IN verdicts, not Lean's: " + title
    else:
        title = f"pass@k of {len(runs)} runs: " + ", ".join(label for label, _ in runs)
    fig.suptitle(title[:150], fontsize=9)
    fig.tight_layout()
    return fig


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)
