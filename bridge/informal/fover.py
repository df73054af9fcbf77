"""Step labels from formal verdicts, FoVer-style: each ``have`` step of a Lean proof is checked by Lean.

A proof's top-level tactic lines are cut into steps, each ending at a ``have`` (the lines before a
``have`` belong to its step); what follows the last ``have`` is the final step. Step k is sound iff
Lean accepts the proof up to and including it with every remaining goal closed by ``sorry``: the
candidate's errors decide, not its ``sorry``. The final step is sound iff the whole proof was verified
(the run's own verdict). Prefixes are checked through :class:`bridge.verify.api.Verifier` like any
candidate (screen, sandbox, pool); as the screen refuses ``sorry`` in model code, the remaining goals are
closed by a tactic macro the header defines (``bridge_prm_rest``, expanding to ``all_goals sorry``): the
header is ours, the steps are the model's, untouched.

Rows are trl's stepwise format (``prompt``, ``completions``, ``labels``), ready for ``bridge prm train``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.verify.candidate import Candidate, from_parts
from bridge.verify.verdict import Verdict

if TYPE_CHECKING:
    from bridge.runs.store import RunStore
    from bridge.verify.api import Verifier

REST = "bridge_prm_rest"
REST_MACRO = f'\nmacro "{REST}" : tactic => `(tactic| all_goals sorry)\n'


@dataclass(frozen=True)
class Step:
    text: str  # the step's lines, as the model wrote them
    end: int  # the proof up to and including this step is items[:end]
    kind: str  # "have" | "final"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def proof_items(proof: str) -> tuple[str, list[str], int]:
    """(lines before the first tactic, top-level tactic items, their indentation). An item is a line at
    the base indentation with every deeper (or blank) line after it."""
    lines = proof.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.strip().startswith("--")), None)
    if first is None:
        return proof, [], 0
    base = _indent(lines[first])
    items: list[list[str]] = []
    for ln in lines[first:]:
        if not items or (ln.strip() and _indent(ln) <= base):
            items.append([ln])
        else:
            items[-1].append(ln)
    return "\n".join(lines[:first]), ["\n".join(it) for it in items], base


def _is_have(item: str) -> bool:
    head = item.lstrip()
    return head.startswith("have ") or head.startswith("have:") or head == "have"


def split_steps(items: Sequence[str]) -> list[Step]:
    """Steps ending at each ``have`` item, then the final step (the rest), if it holds any tactic."""
    steps: list[Step] = []
    start = 0
    for i, item in enumerate(items):
        if _is_have(item):
            steps.append(Step("\n".join(items[start:i + 1]).strip("\n"), i + 1, "have"))
            start = i + 1
    rest = "\n".join(items[start:]).strip("\n")
    if rest.strip() and any(not ln.strip().startswith("--") for ln in rest.split("\n") if ln.strip()):
        steps.append(Step(rest, len(items), "final"))
    return steps


def prefix_proof(lead: str, items: Sequence[str], end: int, indent: int) -> str:
    """The proof up to ``items[:end]``, its remaining goals closed by the header's macro."""
    body = "\n".join([lead, *items[:end]]) if lead else "\n".join(items[:end])
    return body.rstrip("\n") + "\n" + " " * indent + REST + "\n"


def accepted(v: Verdict) -> bool | None:
    """Whether Lean accepted a prefix (a ``sorry`` is expected, an error is not); None when no answer
    decided it (timeout, crash)."""
    if v.verdict in ("timeout", "crashed"):
        return None
    if v.verdict not in ("proved", "incomplete"):
        return False
    return not any(m.get("severity") == "error" for m in v.messages)


@dataclass
class Labelled:
    problem_id: str
    sample_id: str
    prompt: str
    steps: list[Step]
    full_proved: bool
    verdict: str
    checks: dict[int, Candidate]  # step index -> its prefix candidate (have steps only)

    def row(self, results: dict[str, bool | None], source: str) -> dict[str, Any] | None:
        labels: list[bool] = []
        for i, st in enumerate(self.steps):
            if st.kind == "final":
                labels.append(self.full_proved)
                continue
            ok = results.get(self.checks[i].id)
            if ok is None:
                return None  # a prefix Lean gave no answer on: no label
            labels.append(ok)
        return {"prompt": self.prompt, "completions": [s.text for s in self.steps], "labels": labels,
                "problem_id": self.problem_id, "sample_id": self.sample_id, "verdict": self.verdict,
                "source": source}


def prompt_of(informal: str, statement: str) -> str:
    text = informal.strip()
    if text and not text.startswith("/-"):
        text = f"/-- {text} -/"
    return (text + "\n" if text else "") + statement


def plan(store: RunStore, count_fast_gate: bool) -> tuple[list[Labelled], Counter]:
    """Every verified sample of a prove run with at least one ``have`` step, and its prefix candidates."""
    problems = {p.id: p for p in store.problems()}
    out: list[Labelled] = []
    skipped: Counter = Counter()
    for s, v in store.samples():
        p = problems.get(s.problem_id)
        if v is None or p is None:
            skipped["not verified"] += 1
            continue
        if v.verdict in ("timeout", "crashed"):
            skipped[f"verdict {v.verdict}"] += 1
            continue
        at = s.body.find(p.formal_statement)
        if at < 0:
            skipped["statement not found in the checked text"] += 1
            continue
        helpers, proof = s.body[:at], s.body[at + len(p.formal_statement):]
        lead, items, indent = proof_items(proof)
        steps = split_steps(items)
        if not any(st.kind == "have" for st in steps):
            skipped["no have step"] += 1
            continue
        header = s.header.rstrip("\n") + "\n" + REST_MACRO
        checks = {i: from_parts(f"{s.id}#have{i}", header, p.formal_statement, prefix_proof(lead, items, st.end, indent),
                                helpers=helpers)
                  for i, st in enumerate(steps) if st.kind == "have"}
        proved = v.counted(count_fast_gate)
        out.append(Labelled(p.id, s.id, prompt_of(p.informal_statement, p.formal_statement), steps, proved,
                            v.verdict, checks))
    return out, skipped


def label(store: RunStore, verifier: Verifier, count_fast_gate: bool, source: str
          ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of step labels for a prove run, and what was done (counts)."""
    todo, skipped = plan(store, count_fast_gate)
    cands: Iterable[Candidate] = [c for t in todo for c in t.checks.values()]
    results = {v.id: accepted(v) for v in verifier.verify(cands)}
    rows = []
    for t in todo:
        r = t.row(results, source)
        if r is None:
            skipped["a prefix got no answer (timeout or crash)"] += 1
        else:
            rows.append(r)
    labels = [x for r in rows for x in r["labels"]]
    stats = {"samples_labelled": len(rows), "steps": len(labels), "sound": sum(labels),
             "unsound": len(labels) - sum(labels), "prefixes_checked": len(results), "skipped": dict(skipped)}
    return rows, stats
