"""Seeds (I/O): the verified proofs of a `bridge prove` run directory or of a JSONL file."""

from __future__ import annotations

import re
from pathlib import Path

from bridge import jsonl
from bridge.errors import InputError
from bridge.runs.store import RunStore
from bridge.verify.candidate import signature
from provers.synth.common import Seed

# -- seeds (I/O) -----------------------------------------------------------------------------------------


def seed_parts(body: str, statement: str) -> tuple[str, str]:
    """(helpers, tactic proof) of a checked body whose statement ends in ``:= by``: a chat prover's
    restated theorem keeps only the signature, so a leading ``by`` of what follows it is dropped."""
    if statement and statement in body:
        i = body.index(statement)
        return body[:i], body[i + len(statement):]
    try:
        sig = signature(statement)
    except ValueError:
        return "", body
    if sig in body:
        i = body.index(sig)
        rest = body[i + len(sig):]
        return body[:i], re.sub(r"^\s*by\b", "", rest, count=1)
    return "", body


def _by_statement(statement: str) -> str:
    s = statement.rstrip()
    return s if s.endswith("by") else s + " by"


def seeds_from_run(run_dir: Path, count_fast_gate: bool) -> list[Seed]:
    with RunStore.open_existing(run_dir) as store:
        problems = {p.id: p for p in store.problems()}
        meta = store.meta()
        out = []
        for s, v in store.samples():
            if v is None or not v.counted(count_fast_gate):
                continue
            p = problems.get(s.problem_id)
            if p is None:
                continue
            helpers, proof = seed_parts(s.body, p.formal_statement)
            out.append(Seed(s.id, p.id, s.header, _by_statement(p.formal_statement), proof, helpers, str(run_dir),
                            meta.get("served_model") or meta.get("model")))
    return out


def seeds_from_file(path: Path) -> list[Seed]:
    """JSONL of verified proofs: ``bridge export --proved`` rows, or problem rows with a ``proof``. A row
    carrying a verdict other than ``proved`` is left out."""
    out: list[Seed] = []
    errors: list[str] = []
    ids: dict[str, int] = {}
    for n, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad:
            errors.append(f"{path}:{n}: {bad}")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("formal_statement"), str) or not isinstance(row.get("proof"), str):
            errors.append(f"{path}:{n}: needs `formal_statement` and `proof`")
            continue
        if row.get("verdict") not in (None, "proved"):
            continue
        pid = str(row.get("problem_id") or row.get("id") or row.get("name") or f"{path.stem}_{n}")
        sid = str(row.get("sample_id") or pid)
        if sid in ids:
            ids[sid] += 1
            sid = f"{sid}#{ids[sid]}"
        else:
            ids[sid] = 0
        stmt = row["formal_statement"]
        proof = row["proof"]
        if not stmt.rstrip().endswith("by"):
            proof = re.sub(r"^\s*by\b", "", proof, count=1)
        out.append(Seed(sid, pid, row.get("header") or "import Mathlib\n", _by_statement(stmt), proof,
                        row.get("helpers") or "", str(path), row.get("model")))
    if errors:
        raise InputError(f"{path}: {len(errors)} malformed row(s); nothing was loaded:\n  " + "\n  ".join(errors[:20]),
                         "give `bridge export --proved` rows or problem rows with a `proof`")
    return out


def load_seeds(source: str, count_fast_gate: bool) -> list[Seed]:
    p = Path(source)
    if p.is_dir():
        return seeds_from_run(p, count_fast_gate)
    if p.is_file():
        return seeds_from_file(p)
    raise InputError(f"{source}: neither a run directory nor a file", "give a `bridge prove` run directory or a "
                     "JSONL of verified proofs (`bridge export RUN_DIR --proved`)")
