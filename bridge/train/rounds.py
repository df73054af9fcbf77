"""The per-round table of an expert-iteration run: ``rounds.json`` (one object per finished round, read
by other tools), ``rounds.md`` and ``rounds.png`` (solved so far and held-out pass@k by round)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bridge.jsonl import write_json

_ROUND_DIR = re.compile(r"^round-(\d+)$")


def finished_rounds(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished round's summary (``round-K/round.json``), by round."""
    found = []
    for d in Path(run_dir).iterdir() if Path(run_dir).is_dir() else []:
        m = _ROUND_DIR.match(d.name)
        if m and (d / "round.json").is_file():
            found.append((int(m.group(1)), json.loads((d / "round.json").read_text(encoding="utf-8"))))
    return [r for _, r in sorted(found, key=lambda t: t[0])]


def base_eval(run_dir: Path) -> dict[str, Any] | None:
    f = Path(run_dir) / "base-eval" / "report.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ks_of(rounds: list[dict[str, Any]]) -> list[str]:
    ks: list[str] = []
    for r in rounds:
        for k in ((r.get("heldout") or {}).get("pass_at_k") or {}):
            if k not in ks:
                ks.append(k)
    return sorted(ks, key=int)


def markdown(rounds: list[dict[str, Any]], base: dict[str, Any] | None = None) -> str:
    """The rounds table (pure)."""
    ks = ks_of(rounds)
    if base:
        ks = sorted(set(ks) | set(base.get("pass_at_k", {})), key=int)
    head = ["round", "statements in pool", "solved so far", "new proofs", "training rows", "training tokens",
            "strict", *[f"held-out pass@{k}" for k in ks]]
    lines = ["# Expert iteration: rounds", ""]
    if any(r.get("checker") == "stand-in" for r in rounds):
        counted = any(r.get("stand_in_counted") for r in rounds)
        lines += ["STAND-IN verdicts, not Lean's: bridge's stand-in REPL (not Lean) decided every proof; "
                  + ("a `bridge demo` run: they count (as solved, as training rows) inside this run only."
                     if counted else "outside `bridge demo` they count as nothing (no proof solved, no training row)."),
                  ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if base:
        lines.append("| base | - | - | - | - | - | - | "
                     + " | ".join(_pct(base.get("pass_at_k", {}).get(k)) for k in ks) + " |")
    for r in rounds:
        pk = (r.get("heldout") or {}).get("pass_at_k") or {}
        lines.append(f"| {r['round']} | {r['statements_in_pool']} | {r['solved_so_far']}/{r['pool_total']} | "
                     f"{r['new_proofs']} | {r['training_rows']} | {r['training_tokens']} | "
                     f"{'yes' if r.get('strict') else 'no'} | " + " | ".join(_pct(pk.get(k)) for k in ks) + " |")
    for r in rounds:
        if r.get("no_training_reason"):
            lines += ["", f"round {r['round']}: no training rows ({r['no_training_reason']}); the previous adapter "
                      "was carried forward."]
    if any(not r.get("strict") for r in rounds):
        why = next((r.get("strict_reason") for r in rounds if not r.get("strict")), None)
        lines += ["", f"strict = no: the training proofs were not re-checked by the kernel checker ({why})."]
    return "\n".join(lines) + "\n"


def figure(rounds: list[dict[str, Any]], base: dict[str, Any] | None = None) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    xs = [r["round"] for r in rounds]
    total = max((r["pool_total"] for r in rounds), default=0) or 1
    ax.plot(xs, [100 * r["solved_so_far"] / total for r in rounds], marker="o", label="pool solved so far")
    for k in ks_of(rounds):
        pts = [(r["round"], 100 * r["heldout"]["pass_at_k"][k]) for r in rounds
               if (r.get("heldout") or {}).get("pass_at_k", {}).get(k) is not None]
        if base and base.get("pass_at_k", {}).get(k) is not None:
            pts.insert(0, (0, 100 * base["pass_at_k"][k]))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="s", linestyle="--", label=f"held-out pass@{k}")
    ax.set_ylim(0, 100)
    ax.set_xlabel("round (0: the starting model)")
    ax.set_ylabel("%")
    ax.set_xticks(sorted(set(xs) | ({0} if base else set())))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    stand_in = any(r.get("checker") == "stand-in" for r in rounds)
    ax.set_title("expert iteration" + (" (STAND-IN verdicts, not Lean's)" if stand_in else ""), fontsize=9)
    fig.tight_layout()
    return fig


def write_rounds(run_dir: Path) -> list[Path]:
    """rounds.json, rounds.md, rounds.png from the finished rounds."""
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rounds = finished_rounds(run_dir)
    base = base_eval(run_dir)
    out = [run_dir / "rounds.json", run_dir / "rounds.md", run_dir / "rounds.png"]
    write_json(out[0], rounds)
    out[1].write_text(markdown(rounds, base), encoding="utf-8")
    fig = figure(rounds, base)
    fig.savefig(out[2])
    plt.close(fig)
    return out
