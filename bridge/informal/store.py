"""``RUN_DIR/run.sqlite`` of a ``bridge solve`` run: the run store of ``bridge prove`` (meta, resume checks,
one commit per row) with the informal tables beside its own.

A solution's id is ``PROBLEM/0/INDEX`` (as a prove sample's), the primary key: a rerun can neither lose
nor double-count one. Grades are kept per problem (they hold the answer groups majority voting needs)
with the number of solutions they cover, so a problem that got more solutions is graded again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.errors import InputError
from bridge.informal.problem import InformalProblem
from bridge.informal.tir import Execution
from bridge.runs.store import RunStore

INFORMAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS informal_problems (id TEXT PRIMARY KEY, ord INTEGER, split TEXT, band TEXT,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS solutions (id TEXT PRIMARY KEY, problem_id TEXT NOT NULL, idx INTEGER NOT NULL,
    prompt TEXT NOT NULL, completion TEXT NOT NULL, executions TEXT NOT NULL, sampling TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS grades (problem_id TEXT PRIMARY KEY, n INTEGER NOT NULL, data TEXT NOT NULL, created REAL);
CREATE TABLE IF NOT EXISTS step_scores (sample_id TEXT NOT NULL, scorer TEXT NOT NULL, data TEXT NOT NULL,
    created REAL, PRIMARY KEY (sample_id, scorer));
"""
KIND = "solve"


@dataclass
class Solution:
    """One sampled solution: the prompt, everything the model wrote after it (TIR: with the ```output
    blocks filled in), and the code runs."""

    id: str
    problem_id: str
    idx: int
    prompt: str
    completion: str
    executions: list[Execution] = field(default_factory=list)
    sampling: dict[str, Any] = field(default_factory=dict)


class SolveStore(RunStore):
    def __init__(self, run_dir: Path):
        super().__init__(run_dir)
        self.db.executescript(INFORMAL_SCHEMA)

    @classmethod
    def open_solve(cls, run_dir: Path) -> SolveStore:
        """An existing ``bridge solve`` run directory, or an InputError that says what it is instead."""
        if not (Path(run_dir) / "run.sqlite").is_file():
            raise InputError(f"{run_dir}: not a run directory (no run.sqlite)", "give the --run-dir of a `bridge solve` run")
        store = cls(run_dir)
        if store.meta().get("kind") != KIND:
            store.close()
            raise InputError(f"{run_dir} is not a `bridge solve` run", "give the --run-dir of a `bridge solve` run")
        return store

    # -- problems -----------------------------------------------------------------------------------

    def add_informal_problems(self, problems: list[InformalProblem]) -> None:
        with self.lock:
            self.db.execute("BEGIN")
            for i, p in enumerate(problems):
                self.db.execute("INSERT OR REPLACE INTO informal_problems VALUES (?, ?, ?, ?, ?)",
                                (p.id, i, p.split, p.band, json.dumps(p.to_json(), ensure_ascii=False)))
            self.db.execute("COMMIT")

    def informal_problems(self) -> list[InformalProblem]:
        rows = self.db.execute("SELECT data FROM informal_problems ORDER BY ord").fetchall()
        return [InformalProblem.from_json(json.loads(r[0])) for r in rows]

    # -- solutions ----------------------------------------------------------------------------------

    def add_solution(self, s: Solution) -> bool:
        """Record a solution; False if it was already there."""
        with self.lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO solutions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (s.id, s.problem_id, s.idx, s.prompt, s.completion,
                 json.dumps([e.to_json() for e in s.executions], ensure_ascii=False), json.dumps(s.sampling), time.time()))
            return cur.rowcount == 1

    def solution_indices(self, problem_id: str) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT idx FROM solutions WHERE problem_id = ?", (problem_id,))}

    def solutions(self, problem_id: str | None = None) -> list[Solution]:
        q = "SELECT id, problem_id, idx, prompt, completion, executions, sampling FROM solutions"
        args: tuple[Any, ...] = ()
        if problem_id is not None:
            q += " WHERE problem_id = ?"
            args = (problem_id,)
        out = []
        for r in self.db.execute(q + " ORDER BY problem_id, idx", args):
            out.append(Solution(r[0], r[1], r[2], r[3], r[4], [Execution.from_json(e) for e in json.loads(r[5])],
                                json.loads(r[6])))
        return out

    def solution_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM solutions").fetchone()[0])

    # -- grades and step scores ---------------------------------------------------------------------

    def set_grades(self, problem_id: str, grades: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO grades VALUES (?, ?, ?, ?)",
                            (problem_id, grades["n"], json.dumps(grades, ensure_ascii=False), time.time()))

    def grades(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT problem_id, data FROM grades")}

    def graded_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT problem_id, n FROM grades")}

    def set_step_scores(self, sample_id: str, scorer: str, data: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO step_scores VALUES (?, ?, ?, ?)",
                            (sample_id, scorer, json.dumps(data), time.time()))

    def step_scores(self) -> dict[str, dict[str, dict[str, Any]]]:
        """scorer -> sample id -> what it stored."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for sid, scorer, data in self.db.execute("SELECT sample_id, scorer, data FROM step_scores"):
            out.setdefault(scorer, {})[sid] = json.loads(data)
        return out
