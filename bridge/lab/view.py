"""What the lab shows of a run directory, read once from ``run.sqlite`` and ``report.json``: pure
functions from the records to rows and text (no Gradio here, so they are tested on their own)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.data.problem import Problem
from bridge.eval.report import counts_as_solved
from bridge.runs.store import RunStore, SampleRow
from bridge.verify.verdict import Verdict

ALL = "all"
SOLVED, UNSOLVED = "solved", "unsolved"
MAX_SAMPLES_SHOWN = 64  # a problem's page shows this many samples (a pass@1024 run has more)


@dataclass
class RunView:
    run_dir: Path
    meta: dict[str, Any]
    problems: list[Problem]
    samples: dict[str, list[tuple[SampleRow, Verdict | None]]]  # problem id -> its samples, in order
    report: dict[str, Any] | None
    count_fast_gate: bool = False
    count_stand_in: bool = False  # a `bridge demo` run: its stand-in verdicts count there (and only there)
    plot: Path | None = None
    _solved: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, run_dir: Path) -> RunView:
        run_dir = Path(run_dir)
        with RunStore.open_existing(run_dir) as store:
            meta = store.meta()
            demo = store.is_demo()
            problems = store.problems()
            by: dict[str, list[tuple[SampleRow, Verdict | None]]] = {p.id: [] for p in problems}
            for s, v in store.samples():
                by.setdefault(s.problem_id, []).append((s, v))
        rep = run_dir / "report.json"
        report = json.loads(rep.read_text(encoding="utf-8")) if rep.is_file() else None
        plot = run_dir / "passk.png"
        view = cls(run_dir, meta, problems, by, report, bool(meta.get("count_fast_gate")), demo,
                   plot if plot.is_file() else None)
        view._solved = {pid for pid, ss in by.items() if any(view.counted(v) for _, v in ss)}
        return view

    def counted(self, v: Verdict | None) -> bool:
        """The report's rule (bridge.eval.report.counts_as_solved), so the lab and report.json agree."""
        return v is not None and counts_as_solved(v, self.count_fast_gate, self.count_stand_in)

    # -- the filters' choices -------------------------------------------------------------------------
    def verdict_choices(self) -> list[str]:
        seen = sorted({v.verdict for ss in self.samples.values() for _, v in ss if v is not None})
        return [ALL, SOLVED, UNSOLVED, *seen]

    def split_choices(self) -> list[str]:
        return [ALL, *sorted({p.split for p in self.problems})]

    def band_choices(self) -> list[str]:
        return [ALL, *sorted({p.band or "none" for p in self.problems})]

    # -- rows ----------------------------------------------------------------------------------------
    def status(self, pid: str) -> str:
        ss = self.samples.get(pid, [])
        if pid in self._solved:
            return SOLVED
        if not ss or any(v is None for _, v in ss):
            return "pending"
        return UNSOLVED

    def matches(self, p: Problem, verdict: str, split: str, band: str) -> bool:
        if split not in (ALL, None) and p.split != split:
            return False
        if band not in (ALL, None) and (p.band or "none") != band:
            return False
        if verdict in (ALL, None):
            return True
        if verdict in (SOLVED, UNSOLVED):
            return self.status(p.id) == verdict
        return any(v is not None and v.verdict == verdict for _, v in self.samples.get(p.id, []))

    def rows(self, verdict: str = ALL, split: str = ALL, band: str = ALL) -> list[list[Any]]:
        """One row per problem that passes the filters: id, split, band, status, proved/samples, verdicts."""
        out = []
        for p in self.problems:
            if not self.matches(p, verdict, split, band):
                continue
            ss = self.samples.get(p.id, [])
            counts = Counter(v.verdict if v else "unverified" for _, v in ss)
            proved = sum(1 for _, v in ss if self.counted(v))
            out.append([p.id, p.split, p.band or "", self.status(p.id), f"{proved}/{len(ss)}",
                        ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))])
        return out

    def summary(self) -> str:
        m, r = self.meta, self.report or {}
        ks = ", ".join(f"pass@{k} {100 * v:.1f}%" for k, v in (r.get("pass_at_k") or {}).items() if v is not None)
        checker = "" if m.get("checker", "lean") == "lean" else " (**stand-in verdicts, not Lean's**)"
        return (f"**{self.run_dir.name}**{checker}: dataset `{m.get('dataset')}` ({m.get('split')}), model "
                f"`{m.get('served_model') or m.get('model')}`, {len(self.problems)} problems x {m.get('samples')} "
                f"samples, Lean {m.get('lean_version')}; {len(self._solved)} solved" + (f"; {ks}" if ks else ""))

    def passk_table(self) -> str:
        pk = (self.report or {}).get("pass_at_k") or {}
        if not pk:
            return "No report.json yet (`bridge report RUN_DIR` writes it)."
        lines = ["| k | pass@k |", "|---|---|"]
        lines += [f"| {k} | {'-' if v is None else f'{100 * v:.1f} %'} |" for k, v in pk.items()]
        return "\n".join(lines)

    def problem_text(self, pid: str | None) -> str:
        """A problem's statement and every sample: its verdict, the code Lean checked, Lean's messages."""
        p = next((x for x in self.problems if x.id == pid), None)
        if p is None:
            return "Choose a problem."
        ss = self.samples.get(p.id, [])
        out = [f"### {p.id}", f"split `{p.split}`, band `{p.band or 'none'}`, {self.status(p.id)}", ""]
        if p.informal_statement:
            out += [p.informal_statement.strip(), ""]
        out += ["```lean", p.header.rstrip(), "", p.formal_statement.rstrip(), "```", ""]
        for s, v in ss[:MAX_SAMPLES_SHOWN]:
            out += [sample_text(s, v), ""]
        if len(ss) > MAX_SAMPLES_SHOWN:
            out.append(f"... and {len(ss) - MAX_SAMPLES_SHOWN} more samples (`bridge export --all` has them all)")
        return "\n".join(out)


def message_lines(v: Verdict | None) -> list[str]:
    """Lean's messages as ``line:col severity: text`` (first line of each, indented continuation)."""
    if v is None:
        return ["(not verified yet)"]
    out = []
    for m in v.messages:
        pos = m.get("pos") or {}
        where = f"{pos.get('line')}:{pos.get('column')} " if pos else ""
        out.append(f"{where}{m.get('severity', 'info')}: {str(m.get('data', '')).rstrip()}")
    if not out:
        out.append("(no messages)" if v.verdict == "proved" else f"(no messages; {v.reason})")
    return out


def sample_text(s: SampleRow, v: Verdict | None) -> str:
    head = f"#### sample {s.id}: **{v.verdict if v else 'unverified'}**"
    if v is not None and v.verdict == "proved":
        head += f" (gate {v.gate}" + (f", checker {v.checker}: not Lean)" if v.checker != "lean" else ")")
    elif v is not None and v.reason:
        head += f" ({v.reason.splitlines()[0][:200]})"
    fence = "~~~~" if "```" in s.body else "```"
    msgs = "\n".join(message_lines(v))
    return f"{head}\n\n{fence}lean\n{s.body.rstrip()}\n{fence}\n\nLean's messages:\n\n```text\n{msgs}\n```"
