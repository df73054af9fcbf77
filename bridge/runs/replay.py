"""``bridge replay RUN_DIR``: every accepted proof a run directory holds, verified again from its stored
texts alone with today's verifier, and every verdict that differs from the stored one.

Where the commands keep their accepted proofs (all found anywhere under RUN_DIR, so a pipeline's or an
iterate run's nested directories are read too):

* ``run.sqlite`` (``bridge prove``, each ``iterate`` round's ``samples``/``eval``, ``formalize --prove``'s
  ``prove/``, the pipeline's stages): samples with a ``proved`` verdict; the problem's reference statement
  from the same store;
* ``synthetic.jsonl`` (``bridge synth``), ``proved.jsonl`` (``formalize --prove``) and ``train.jsonl`` (``bridge
  pipeline``'s Lean rows): rows with ``header``, ``formal_statement`` and ``proof``;
* ``rewards.jsonl`` (``bridge rl``): completions the reward judged ``proved``, with the header, reference
  statement and checked body it logs for them.

Nothing else is read: no stored verdict, reason or cache entry decides a new verdict (the result cache is
not used). A stored ``proved`` that is now anything else, or a full-gate proof that now passes only the
fast gate, is a difference. Pure comparison in the middle; the files and the verifier at the edges.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import jsonl
from bridge.config import BridgeConfig
from bridge.errors import InputError
from bridge.runs import provenance
from bridge.runs.store import RunStore
from bridge.scale import make_verifier
from bridge.verify.api import Verifier
from bridge.verify.candidate import Candidate, from_code, from_stored
from bridge.verify.verdict import Verdict

ROW_FILES = ("synthetic.jsonl", "proved.jsonl", "train.jsonl")
REWARDS_FILE = "rewards.jsonl"
REPORT = "replay.json"
DIFFERS = 1  # the exit code when a verdict differs (0: none does)


@dataclass(frozen=True)
class Accepted:
    """One stored accepted proof: where it was found, its id there, and the texts that were checked."""

    source: str  # the file, relative to RUN_DIR
    id: str
    header: str
    statement: str  # the reference statement ("" when none was stored)
    body: str  # helpers + statement + proof, as checked
    verdict: str = "proved"
    gate: str = "full"
    checker: str = "lean"  # "stand-in": decided by bridge's stand-in REPL, not Lean

    @property
    def key(self) -> str:
        return f"{self.source}::{self.id}"

    def candidate(self) -> Candidate:
        if self.statement:
            return from_stored(self.key, self.header, self.statement, self.body)
        return from_code(self.key, self.header, self.body)


@dataclass(frozen=True)
class Difference:
    source: str
    id: str
    stored: str  # verdict (gate)
    now: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ReplayResult:
    run_dir: str
    checked: int
    differences: list[Difference]
    unchecked: list[str]  # keys left without a verdict (a stopped replay)
    strict: bool
    provenance_then: dict[str, Any] | None
    provenance_now: dict[str, Any]
    changed: list[str]
    by_source: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "checked": self.checked, "differences": [d.to_json() for d in self.differences],
                "unchecked": self.unchecked, "strict": self.strict, "by_source": self.by_source,
                "provenance": {"then": self.provenance_then, "now": self.provenance_now, "changed": self.changed}}


# -- finding the accepted proofs -----------------------------------------------------------------------


def _rel(run_dir: Path, p: Path) -> str:
    return str(p.relative_to(run_dir))


def from_store(run_dir: Path, path: Path) -> Iterator[Accepted]:
    with RunStore.open_existing(path.parent) as store:
        statements = {p.id: p.formal_statement for p in store.problems()}
        for s, v in store.samples():
            if v is not None and v.verdict == "proved":
                yield Accepted(_rel(run_dir, path), s.id, s.header, statements.get(s.problem_id, ""), s.body,
                               v.verdict, v.gate, v.checker)


def _row_field(row: dict[str, Any], key: str, default: str) -> str:
    """A row's recorded ``gate`` or ``checker`` (synth: provenance.verified, formalize --prove: provenance.proof)."""
    prov = row.get("provenance") if isinstance(row.get("provenance"), dict) else {}
    for k in ("verified", "proof"):
        d = prov.get(k)
        if isinstance(d, dict) and d.get(key):
            return str(d[key])
    return str(row.get(key) or default)


def from_rows(run_dir: Path, path: Path) -> Iterator[Accepted]:
    for n, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad or not isinstance(row, dict):
            raise InputError(f"{path}:{n}: {bad or 'a row must be a JSON object'}", "the file was altered: restore it")
        if not (isinstance(row.get("formal_statement"), str) and isinstance(row.get("proof"), str)):
            continue  # an informal row (the pipeline's training rows hold both kinds)
        rid = str(row.get("name") or row.get("id") or f"line {n}")
        header = row.get("header") if isinstance(row.get("header"), str) else "import Mathlib\n"
        yield Accepted(_rel(run_dir, path), rid, header, row["formal_statement"],
                       (row.get("helpers") or "") + row["formal_statement"] + row["proof"], "proved",
                       _row_field(row, "gate", "full"), _row_field(row, "checker", "lean"))


def from_rewards(run_dir: Path, path: Path) -> Iterator[Accepted]:
    for n, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad or not isinstance(row, dict):
            raise InputError(f"{path}:{n}: {bad or 'a row must be a JSON object'}", "the file was altered: restore it")
        if row.get("verdict") == "proved" and isinstance(row.get("body"), str):
            yield Accepted(_rel(run_dir, path), f"{row.get('call')}:{row.get('id')}", str(row.get("header") or ""),
                           str(row.get("statement") or ""), row["body"], "proved", str(row.get("gate") or "full"),
                           str(row.get("checker") or "lean"))


def accepted_proofs(run_dir: Path) -> list[Accepted]:
    """Every accepted proof stored anywhere under ``run_dir``, in a fixed order."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such directory", "give the --run-dir of a prove, iterate, formalize, synth, "
                         "pipeline or rl run")
    out: list[Accepted] = []
    for p in sorted(run_dir.rglob("*")):
        if not p.is_file():
            continue
        if p.name == "run.sqlite":
            out += from_store(run_dir, p)
        elif p.name in ROW_FILES:
            out += from_rows(run_dir, p)
        elif p.name == REWARDS_FILE:
            out += from_rewards(run_dir, p)
    return out


def nearest_provenance(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR's record, else the first one found below it (a pipeline's stages record theirs)."""
    rec = provenance.read(run_dir)
    if rec is not None:
        return rec
    for p in sorted(Path(run_dir).rglob(provenance.PROVENANCE)):
        rec = provenance.read(p.parent)
        if rec is not None:
            return rec
    return None


# -- deciding (pure) ---------------------------------------------------------------------------------------


def differs(a: Accepted, v: Verdict) -> bool:
    """A stored verdict that today's verifier does not give again: another verdict, a full-gate proof that
    now passes only the fast gate, or a proof Lean checked that now only a stand-in REPL decides."""
    return (v.verdict != a.verdict or (a.gate == "full" and v.gate != "full")
            or (a.checker == "lean" and v.checker != "lean"))


def _by(checker: str) -> str:
    return "" if checker == "lean" else f", {checker}"


def compare(accepted: list[Accepted], verdicts: dict[str, Verdict]) -> tuple[list[Difference], list[str]]:
    diffs, unchecked = [], []
    for a in accepted:
        v = verdicts.get(a.key)
        if v is None:
            unchecked.append(a.key)
        elif differs(a, v):
            diffs.append(Difference(a.source, a.id, f"{a.verdict} ({a.gate} gate{_by(a.checker)})",
                                    f"{v.verdict} ({v.gate} gate{_by(v.checker)})", v.reason or ""))
    return diffs, unchecked


# -- the run ----------------------------------------------------------------------------------------------


def strict_choice(cfg: BridgeConfig, strict: bool | None, checker: object | None) -> tuple[object | None, str]:
    """The kernel checker to use: required (``strict`` True: the Verifier refuses to start without it), none
    (False), or whenever it is there (None). Returns (checker or None, why not when none)."""
    if strict is False:
        return None, "--no-strict"
    if checker is None:
        from bridge.lean.project import repl_launch
        from bridge.verify.strict import StrictChecker

        checker = StrictChecker(cfg, repl_launch(cfg))
    if strict:
        return checker, ""
    ok, why = checker.available()  # type: ignore[attr-defined]
    return (checker, "") if ok else (None, why)


def replay(run_dir: Path, cfg: BridgeConfig, strict: bool | None = None, strict_checker: object | None = None,
           log: Callable[[str], None] | None = None,
           started: Callable[[Verifier], None] | None = None) -> ReplayResult:
    """Verify again every accepted proof under ``run_dir`` (no result cache) and compare."""
    log = log or (lambda msg: None)
    run_dir = Path(run_dir)
    accepted = accepted_proofs(run_dir)
    then = nearest_provenance(run_dir)
    checker, why = strict_choice(cfg, strict, strict_checker)
    cfg = dataclasses.replace(cfg, use_cache=False, strict=checker is not None)
    by_source: dict[str, int] = {}
    for a in accepted:
        by_source[a.source] = by_source.get(a.source, 0) + 1
    log(f"{len(accepted)} accepted proof(s) in {run_dir}" + "".join(f"\n  {k}: {n}" for k, n in by_source.items())
        + ("\n  kernel checker: on" if checker is not None else f"\n  kernel checker: off ({why})"))
    verdicts: dict[str, Verdict] = {}
    with make_verifier(cfg, strict_checker=checker) as verifier:
        if started is not None:
            started(verifier)
        now = provenance.of_verifier(verifier)
        if accepted:
            for v in verifier.verify([a.candidate() for a in accepted]):
                verdicts[v.id] = v
    diffs, unchecked = compare(accepted, verdicts)
    return ReplayResult(str(run_dir), len(verdicts), diffs, unchecked, checker is not None, then, now.to_json(),
                        provenance.changes(then, now), by_source)


def write_result(run_dir: Path, result: ReplayResult) -> Path:
    p = Path(run_dir) / REPORT
    tmp = p.with_name(p.name + ".part")
    tmp.write_text(json.dumps(result.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(p)
    return p
