"""``RUN_DIR/run.sqlite``: everything a run made, written as it is made, so a killed run resumes.

Each sample and each verdict is committed on its own; a sample's id is ``PROBLEM/ROUND/INDEX`` and is
the primary key of both tables, so a rerun can neither lose nor double-count one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.data.problem import Problem
from bridge.errors import InputError, RunDirError
from bridge.verify.verdict import Verdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (id TEXT PRIMARY KEY, ord INTEGER, split TEXT, band TEXT, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (problem_id TEXT, round INTEGER, prompt TEXT NOT NULL,
                                    PRIMARY KEY (problem_id, round));
CREATE TABLE IF NOT EXISTS samples (id TEXT PRIMARY KEY, problem_id TEXT NOT NULL, round INTEGER NOT NULL,
    idx INTEGER NOT NULL, parent TEXT, prompt TEXT, completion TEXT NOT NULL, header TEXT NOT NULL,
    body TEXT NOT NULL, sampling TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS verdicts (sample_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, data TEXT NOT NULL,
    created REAL);
"""


@dataclass
class SampleRow:
    id: str
    problem_id: str
    round: int
    idx: int
    completion: str
    header: str
    body: str
    parent: str | None = None


def sample_id(problem_id: str, round_: int, idx: int) -> str:
    return f"{problem_id}/{round_}/{idx}"


def counted_sql(count_fast_gate: bool, count_stand_in: bool = False) -> str:
    """SQL for "this verdict row counts as solved" (``Verdict.counted``): a fast-gate `proved` (a REPL
    that is not Lean) only when asked; a stand-in's (`bridge demo`) only in a demo run. Rows written before
    verdicts carried a gate are full-gate ones, before they carried a checker Lean's."""
    gate = "COALESCE(json_extract(v.data, '$.gate'), 'full')"
    ok = f"{gate} IN ('full', 'fast')" if count_fast_gate else f"{gate} = 'full'"
    if not count_stand_in:
        ok += " AND COALESCE(json_extract(v.data, '$.checker'), 'lean') = 'lean'"
    return f"(v.verdict = 'proved' AND {ok})"


CORE_TABLES = ("meta", "problems", "prompts", "samples", "verdicts")
# what a start records before it makes anything (the settings and the input): rows there lock nothing
INPUT_TABLES = ("meta", "problems", "prompts", "informal_problems")


def writable_dir(path: Path, what: str = "run directory", flag: str = "--run-dir") -> Path:
    """``path`` as a directory this process can write, created if missing, or a one-line RunDirError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: the {what} is not a directory (a file is there)",
                          f"give {flag} a directory, new or existing, or move the file away")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"{path}: cannot create the {what} ({e.strerror or e})",
                          f"give {flag} a directory you can write") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise RunDirError(f"{path}: the {what} is not writable",
                          f"fix its permissions (chmod u+w {path}) or copy it somewhere writable and give {flag} that")
    return path


def _foreign(db: sqlite3.Connection) -> str | None:
    """Why this database is not a run store (None when it is one, or empty). Kinds that extend the
    schema (solve, formalize, synth) keep the core tables as they are, so only those are compared."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    if "meta" not in tables:
        return f"it has tables {', '.join(sorted(tables)[:5])} but no `meta`"
    want = sqlite3.connect(":memory:")
    want.executescript(SCHEMA)
    try:
        for t in CORE_TABLES:
            if t not in tables:
                continue
            have = [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            need = [r[1] for r in want.execute(f"PRAGMA table_info({t})")]
            if have != need:
                return f"its `{t}` table has columns ({', '.join(have)}), not a run store's"
    finally:
        want.close()
    return None


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = writable_dir(Path(run_dir))
        self.path = self.dir / "run.sqlite"
        if self.path.exists() and not self.path.is_file():
            raise RunDirError(f"{self.path}: not a file", "move it away or give another --run-dir")
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60, isolation_level=None)
        try:
            why = _foreign(self.db)
            if why is not None:
                raise RunDirError(f"{self.path}: not a bridge run store ({why})",
                                  "give --run-dir a directory of its own (a new one, or a bridge run's)")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            self.db.close()
            if "readonly" in str(e) or "unable to open" in str(e):
                raise RunDirError(f"{self.path}: cannot be written ({e})",
                                  "fix the permissions of the run directory and run.sqlite, or copy them "
                                  "somewhere writable") from None
            raise RunDirError(f"{self.path}: corrupt, SQLite cannot read it ({e})",
                              f"move it away (mv {self.path} {self.path}.bad) and rerun, or give another "
                              "--run-dir") from None
        except BaseException:
            self.db.close()
            raise
        self.lock = threading.Lock()

    @classmethod
    def open_existing(cls, run_dir: Path) -> RunStore:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise RunDirError(f"{run_dir}: not a run directory (a file)", "give the --run-dir of a `bridge prove` run")
        if not (run_dir / "run.sqlite").is_file():  # a wrong argument (exit 2), not a broken directory
            raise InputError(f"{run_dir}: not a run directory (no run.sqlite)", "give the --run-dir of a `bridge prove` run")
        return cls(run_dir)

    def stored_nothing(self) -> bool:
        """Nothing made yet (no samples, verdicts, solutions...): such a run does not lock its settings."""
        tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return all(self.db.execute(f"SELECT 1 FROM \"{t}\" LIMIT 1").fetchone() is None
                   for t in tables if t not in INPUT_TABLES)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- meta ---------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def check_meta(self, meta: dict[str, Any], fixed: tuple[str, ...]) -> None:
        """Resume: the ``fixed`` keys must match what the run was made with (nothing is written). A run
        that stored nothing yet (a start that failed before the first sample) locks nothing."""
        if self.stored_nothing():
            return
        old = self.meta()
        for k in fixed:
            if k in old and old[k] != meta.get(k):
                raise InputError(f"{self.dir} was made with {k} = {old[k]!r}, not {meta.get(k)!r}",
                                 "rerun with the same settings to resume, or give another --run-dir")

    def set_meta(self, meta: dict[str, Any]) -> None:
        with self.lock:
            for k, v in meta.items():
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))

    def check_or_set_meta(self, meta: dict[str, Any], fixed: tuple[str, ...]) -> None:
        """First run: record ``meta``. Resume: the ``fixed`` keys must match what the run was made with."""
        self.check_meta(meta, fixed)
        self.set_meta(meta)

    def is_demo(self) -> bool:
        """A `bridge demo` run: its stand-in verdicts (not Lean's) count as solved here and nowhere else."""
        return self.meta().get("checker") == "stand-in" and self.meta().get("demo") is True

    # -- problems and prompts -----------------------------------------------------------------------

    def add_problems(self, problems: list[Problem]) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            for i, p in enumerate(problems):
                self.db.execute("INSERT OR REPLACE INTO problems VALUES (?, ?, ?, ?, ?)",
                                (p.id, i, p.split, p.band, json.dumps(p.to_json(), ensure_ascii=False)))
            self.db.execute("COMMIT")

    def problems(self) -> list[Problem]:
        rows = self.db.execute("SELECT data FROM problems ORDER BY ord").fetchall()
        return [Problem.from_json(json.loads(r[0])) for r in rows]

    def set_prompt(self, problem_id: str, round_: int, prompt: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR IGNORE INTO prompts VALUES (?, ?, ?)", (problem_id, round_, prompt))

    # -- samples and verdicts -----------------------------------------------------------------------

    def add_sample(self, s: SampleRow, prompt: str, sampling: dict[str, Any]) -> bool:
        """Record a sample; False if it was already there (a resumed run regenerated nothing new)."""
        with self.lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.id, s.problem_id, s.round, s.idx, s.parent, prompt, s.completion, s.header, s.body,
                 json.dumps(sampling), time.time()))
            return cur.rowcount == 1

    def add_verdict(self, sid: str, v: Verdict) -> None:
        with self.lock:
            self.db.execute("INSERT OR IGNORE INTO verdicts VALUES (?, ?, ?, ?)",
                            (sid, v.verdict, json.dumps(v.to_json(), ensure_ascii=False), time.time()))

    def sample_count(self, round_: int = 0, below: int | None = None) -> int:
        """Samples stored in one round (with an index under ``below``, when given)."""
        q, args = "SELECT COUNT(*) FROM samples WHERE round = ?", [round_]
        if below is not None:
            q += " AND idx < ?"
            args.append(below)
        return int(self.db.execute(q, args).fetchone()[0])

    def verdict_count(self) -> int:
        """Verdicts stored (decided ones only: a stop abandons the checks in flight without one)."""
        return int(self.db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def sample_indices(self, problem_id: str, round_: int) -> set[int]:
        rows = self.db.execute("SELECT idx FROM samples WHERE problem_id = ? AND round = ?", (problem_id, round_))
        return {r[0] for r in rows}

    def verified_ids(self, sids: list[str]) -> set[str]:
        """Which of these sample ids have a verdict."""
        out: set[str] = set()
        for i in range(0, len(sids), 500):
            part = sids[i:i + 500]
            q = f"SELECT sample_id FROM verdicts WHERE sample_id IN ({','.join('?' * len(part))})"
            out |= {r[0] for r in self.db.execute(q, part)}
        return out

    def unverified(self) -> Iterator[SampleRow]:
        rows = self.db.execute(
            "SELECT s.id, s.problem_id, s.round, s.idx, s.completion, s.header, s.body, s.parent FROM samples s "
            "LEFT JOIN verdicts v ON v.sample_id = s.id WHERE v.sample_id IS NULL ORDER BY s.created").fetchall()
        for r in rows:
            yield SampleRow(*r)

    def samples(self, round_: int | None = None) -> list[tuple[SampleRow, Verdict | None]]:
        q = ("SELECT s.id, s.problem_id, s.round, s.idx, s.completion, s.header, s.body, s.parent, v.data "
             "FROM samples s LEFT JOIN verdicts v ON v.sample_id = s.id")
        args: tuple[Any, ...] = ()
        if round_ is not None:
            q += " WHERE s.round = ?"
            args = (round_,)
        out = []
        for r in self.db.execute(q + " ORDER BY s.problem_id, s.round, s.idx", args):
            out.append((SampleRow(*r[:8]), Verdict.from_json(json.loads(r[8])) if r[8] else None))
        return out

    def solved(self, count_fast_gate: bool = False, count_stand_in: bool = False) -> set[str]:
        """Problems with a proof that counts (fast-gate proofs only with ``count_fast_gate``)."""
        rows = self.db.execute("SELECT DISTINCT s.problem_id FROM samples s JOIN verdicts v ON v.sample_id = s.id "
                               "WHERE " + counted_sql(count_fast_gate, count_stand_in))
        return {r[0] for r in rows}

    def counts(self, round_: int = 0, count_fast_gate: bool = False,
               count_stand_in: bool = False) -> dict[str, tuple[int, int]]:
        """problem id -> (samples verified, samples proved) in one round; a fast-gate proof counts as
        proved only with ``count_fast_gate``."""
        rows = self.db.execute(
            f"SELECT s.problem_id, COUNT(v.sample_id), SUM({counted_sql(count_fast_gate, count_stand_in)}) FROM samples s "
            "JOIN verdicts v ON v.sample_id = s.id WHERE s.round = ? GROUP BY s.problem_id", (round_,))
        return {r[0]: (r[1], int(r[2] or 0)) for r in rows}
