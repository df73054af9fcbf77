"""The funnel's runner: generate N candidate statements per informal statement, then run each stage over
every candidate due for it, cheapest stage first, writing each decision to the run store as it is made.

A run directory is a ``RunStore`` (``run.sqlite``): the informal statements are its problems, each model
answer a sample (``PROBLEM/0/INDEX``, its body the extracted statement), and each stage decision a row of
the ``funnel`` table keyed by (candidate, stage). A killed run (even SIGKILL) loses at most the decisions
in flight: the same command again generates only the missing answers and decides only what is undecided.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import jsonl
from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.api import Verifier
from provers.backends.base import Backend, Prompt, SamplingParams
from provers.formalize.prompts import (
    DEFAULT_HEADER,
    Formalizer,
    backtranslation_prompt,
    extract_statement,
    formalization_prompt,
    informal_text,
    judge_prompt,
    parse_vote,
)
from provers.formalize.stages import (
    DEFAULT_BUDGET,
    LEAN_STAGES,
    STAGES,
    Formalization,
    StageResult,
    check_extracted,
    check_uncontaminated,
    check_unique,
    check_well_formed,
    dedupe_key,
    lean_candidate,
    lean_result,
    no,
    ok,
    tally,
)
from provers.formalize.statement import lean_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS funnel (cand_id TEXT NOT NULL, stage TEXT NOT NULL, passed INTEGER NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, data TEXT NOT NULL, created REAL, PRIMARY KEY (cand_id, stage));
"""
JUDGE_SAMPLING = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=2048)


@dataclass
class FormalizeSettings:
    candidates: int = 8
    params: SamplingParams = field(default_factory=SamplingParams)
    header: str = DEFAULT_HEADER
    budget: tuple[str, ...] = DEFAULT_BUDGET
    judges: tuple[str, ...] = ()  # judge models; the first also back-translates
    votes: int = 3  # votes per judge model
    vote_rule: str = "unanimous"
    judge_params: SamplingParams = JUDGE_SAMPLING
    back_translation: bool = True
    ngram: int = 20

    def stages(self) -> tuple[str, ...]:
        return STAGES if self.back_translation else tuple(s for s in STAGES if s != "back_translation")


class FunnelStore:
    """The ``funnel`` table beside a RunStore's own: one row per (candidate, stage), never rewritten."""

    def __init__(self, store: RunStore):
        self.store = store
        with store.lock:
            store.db.executescript(SCHEMA)

    def add(self, cand_id: str, r: StageResult) -> None:
        with self.store.lock:
            self.store.db.execute("INSERT OR IGNORE INTO funnel VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  (cand_id, r.stage, int(r.passed), r.kind, r.reason,
                                   json.dumps(r.data, ensure_ascii=False), time.time()))

    def results(self) -> dict[str, dict[str, StageResult]]:
        out: dict[str, dict[str, StageResult]] = {}
        rows = self.store.db.execute("SELECT cand_id, stage, passed, kind, reason, data FROM funnel")
        for cid, stage, passed, kind, reason, data in rows:
            out.setdefault(cid, {})[stage] = StageResult(stage, bool(passed), kind, reason, json.loads(data))
        return out


def _seed(base: int, key: str, first: int = 0) -> int:
    return (base + zlib.crc32(key.encode()) + first) % (2**31)


class Funnel:
    """One ``bridge formalize`` run over a run store."""

    def __init__(self, formalizer: Formalizer, backend: Backend, verifier: Verifier, store: RunStore,
                 settings: FormalizeSettings, against: dict[str, list[Problem]],
                 judge_backends: dict[str, Backend] | None = None, log: Callable[[str], None] | None = None):
        self.f = formalizer
        self.backend = backend
        self.verifier = verifier
        self.store = store
        self.results = FunnelStore(store)
        self.s = settings
        self.against = against
        self.judges = dict(judge_backends or {})
        self.log = log or (lambda msg: None)
        self.problems: dict[str, Problem] = {}
        self.stopped = False

    def stop(self) -> None:
        """Ask the model for nothing more and stop verification (safe from a signal handler)."""
        self.stopped = True
        self.verifier.stop()

    # -- reading the store --------------------------------------------------------------------------

    def formalizations(self) -> list[Formalization]:
        """Every candidate stored, in problem order then index order, with its stage results."""
        order = {pid: i for i, pid in enumerate(self.problems)}
        results = self.results.results()
        out = []
        for s, _ in self.store.samples(round_=0):
            if s.problem_id not in order:
                continue
            out.append(Formalization(s.id, s.problem_id, s.idx, s.completion, s.body, s.header,
                                     dict(results.get(s.id, {}))))
        return sorted(out, key=lambda f: (order[f.problem_id], f.idx))

    # -- the run ------------------------------------------------------------------------------------

    def run(self, problems: list[Problem]) -> list[Formalization]:
        self.problems = {p.id: p for p in problems}
        self.generate(problems)
        for stage in self.s.stages():
            if self.stopped:
                break
            self.run_stage(stage)
        return self.formalizations()

    def generate(self, problems: list[Problem]) -> None:
        """The candidates not yet stored: all of a problem's missing ones in one request."""
        for p in problems:
            if self.stopped:
                return
            have = self.store.sample_indices(p.id, 0)
            missing = [i for i in range(self.s.candidates) if i not in have]
            if not missing:
                continue
            name = lean_name(p.name or p.id)
            prompt = formalization_prompt(self.f, informal_text(p.informal_statement, p.informal_solution), name,
                                          self.s.header)
            text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
            self.store.set_prompt(p.id, 0, text)
            params = dataclasses.replace(self.s.params, seed=_seed(self.s.params.seed, p.id, missing[0]))
            answers = self.backend.generate(prompt, len(missing), params)
            for i, answer in zip(missing, answers, strict=True):
                ex = extract_statement(self.f, answer, name, self.s.header)
                row = SampleRow(sample_id(p.id, 0, i), p.id, 0, i, answer, self.s.header, ex.statement or "")
                self.store.add_sample(row, text, params.to_json())
            self.log(f"generated {len(missing)} candidate(s) for {p.id}")

    def run_stage(self, stage: str) -> None:
        stages = self.s.stages()
        forms = self.formalizations()
        due = [f for f in forms if f.due(stage, stages)]
        if not due:
            return
        self.log(f"{stage}: {len(due)} candidate(s)")
        if stage in LEAN_STAGES:
            self._lean_stage(stage, due)
            return
        if stage == "unique":
            seen = {dedupe_key(f.statement): f.id for f in forms
                    if f.results.get("unique") is not None and f.results["unique"].passed}
        for f in due:
            if self.stopped:
                return
            if stage == "extracted":
                r = check_extracted(extract_statement(self.f, f.answer, lean_name(self._problem(f).name or f.problem_id),
                                                      self.s.header))
            elif stage == "well_formed":
                others = f.results["extracted"].data.get("other_declarations") or []
                r = check_well_formed(f.statement, f.header, others)
            elif stage == "unique":
                r = check_unique(f.id, f.statement, seen)
            elif stage == "uncontaminated":
                r = check_uncontaminated(f.id, f.statement, self.against, self.s.ngram)
            elif stage == "back_translation":
                r = self.back_translate(f)
            else:
                raise ValueError(stage)
            self.results.add(f.id, r)

    def _problem(self, f: Formalization) -> Problem:
        return self.problems[f.problem_id]

    def _lean_stage(self, stage: str, due: list[Formalization]) -> None:
        cands = []
        for f in due:
            c = lean_candidate(stage, f.id, f.statement, f.header, self.s.budget)
            if isinstance(c, StageResult):
                self.results.add(f.id, c)
            else:
                cands.append(c)
        for v in self.verifier.verify(cands):
            if v.rule == "setup":
                raise SetupError(f"the header does not elaborate: {v.reason}",
                                 "check --header and the Lean project (bridge doctor)")
            self.results.add(v.id.rsplit("#", 1)[0], lean_result(stage, v))
        if self.verifier.stopped:
            self.stopped = True

    def back_translate(self, f: Formalization) -> StageResult:
        """The first judge model puts the statement back into words; each judge model votes ``votes``
        times whether that says what the informal statement says."""
        p = self._problem(f)
        informal = informal_text(p.informal_statement, p.informal_solution)
        judges = list(self.judges)
        params = dataclasses.replace(self.s.judge_params, seed=_seed(self.s.judge_params.seed, f.id))
        bt = self.judges[judges[0]].generate(backtranslation_prompt(f.statement, f.header), 1, params)[0]
        votes: list[bool | None] = []
        cast: list[dict[str, Any]] = []
        prompt: Prompt = judge_prompt(informal, f.statement, bt)
        for j, model in enumerate(judges):
            pj = dataclasses.replace(params, seed=_seed(params.seed, model, j + 1))
            for k, answer in enumerate(self.judges[model].generate(prompt, self.s.votes, pj)):
                vote = parse_vote(answer)
                votes.append(vote)
                cast.append({"judge": model, "index": k, "vote": vote, "answer": answer[-1500:]})
        passed, why = tally(votes, self.s.vote_rule)
        data = {"back_translation": bt, "votes": cast, "rule": self.s.vote_rule}
        if passed:
            return ok("back_translation", "judges agree", why, **data)
        return no("back_translation", "judges disagree", why, **data)


# -- input: informal statements ---------------------------------------------------------------------------


def read_informal_file(path: Path) -> list[Problem]:
    """JSONL of ``{"id", "informal" (or "problem"), "answer"?, "split"?, "source"?, "tags"?}``; every bad row is an error
    (``FILE:LINE: reason``) and nothing is half-loaded."""
    out: list[Problem] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for n, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad:
            errors.append(f"{path}:{n}: {bad}")
            continue
        if not isinstance(row, dict):
            errors.append(f"{path}:{n}: a row must be a JSON object")
            continue
        pid = row.get("id", row.get("name"))
        informal = row.get("informal", row.get("problem"))  # `problem`: the informal datasets' name for it
        if not isinstance(pid, (str, int)) or not str(pid).strip():
            errors.append(f"{path}:{n}: no `id`")
            continue
        if not isinstance(informal, str) or not informal.strip():
            errors.append(f"{path}:{n}: no `informal` statement (looked for the fields `informal` and `problem`)")
            continue
        if str(pid) in seen:
            errors.append(f"{path}:{n}: duplicate id {pid!r} (first on line {seen[str(pid)]})")
            continue
        seen[str(pid)] = n
        answer = row.get("answer")
        tags = row.get("tags") if isinstance(row.get("tags"), list) else []
        out.append(Problem(id=str(pid), split=str(row.get("split") or "test"), header="", formal_statement="",
                           informal_statement=informal, informal_solution="" if answer is None else str(answer),
                           source=str(row.get("source") or path.stem), tags=[str(t) for t in tags], name=str(pid)))
    if errors:
        shown = "\n  ".join(errors[:20])
        raise InputError(f"{path}: {len(errors)} malformed row(s); nothing was loaded:\n  {shown}",
                         'each row needs "id" and "informal" (optional "answer", "split", "source", "tags")')
    return out


def load_informal(name_or_path: str, cfg: Any, split: str | None = None) -> list[Problem]:
    """Informal statements: a JSONL file of ``{"id", "informal"}`` rows, or any dataset (name or file) whose
    rows carry an informal statement (the built-in ``conjectures``, miniF2F's informal prefixes, ...)."""
    from bridge.data.loader import load_dataset, looks_like_path

    path = Path(name_or_path)
    problems: list[Problem]
    if looks_like_path(name_or_path) and path.is_file() and _has_informal_field(path):
        problems = read_informal_file(path)
    else:
        problems = [p for p in load_dataset(name_or_path, cfg) if p.informal_statement.strip()]
        for p in problems:
            p.header = ""
            p.formal_statement = ""
    if split is not None:
        problems = [p for p in problems if p.split == split]
    if not problems:
        raise InputError(f"{name_or_path}: no informal statements" + (f" in split {split!r}" if split else ""),
                         'give a JSONL file of {"id", "informal"} rows or a dataset with informal statements')
    return problems


def _has_informal_field(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    # an informal row ("informal", or "problem" as the informal datasets name it), or one
                    # that is not a formal dataset's row either: read as informal, so its error names the
                    # fields looked for
                    return isinstance(row, dict) and ("informal" in row or "problem" in row or not (
                        {"formal_statement", "informal_prefix"} & row.keys()))
    except (OSError, ValueError):
        return False
    return False


# -- output --------------------------------------------------------------------------------------------


def survivor_row(f: Formalization, p: Problem, meta: dict[str, Any], stages: tuple[str, ...]) -> dict[str, Any]:
    """A survivor as a problem row ``bridge prove`` reads (``name``, ``split``, ``header``,
    ``formal_statement``, ``informal_prefix``), with its provenance."""
    return {
        "name": f"{p.id}__f{f.idx}", "split": p.split, "header": f.header, "formal_statement": f.statement,
        "informal_prefix": p.informal_statement, "informal_solution": p.informal_solution, "tags": p.tags,
        "source": p.source,
        "provenance": {"source_id": p.id, "source": p.source, "candidate": f.id, "model": meta.get("model"),
                       "served_model": meta.get("served_model"), "template": meta.get("template"),
                       "lean_version": meta.get("lean_version"),
                       "stages": {s: _result_json(f.results[s]) for s in stages if s in f.results}},
    }


def candidate_row(f: Formalization, stages: tuple[str, ...]) -> dict[str, Any]:
    """Every candidate with its fate (``RUN_DIR/candidates.jsonl``)."""
    return {"id": f.id, "problem_id": f.problem_id, "index": f.idx, "status": f.status(stages),
            "formal_statement": f.statement, "answer": f.answer,
            "stages": {s: _result_json(f.results[s]) for s in stages if s in f.results}}


def _result_json(r: StageResult) -> dict[str, Any]:
    d = {"passed": r.passed, "kind": r.kind, "reason": r.reason}
    if r.data:
        d["data"] = r.data
    return d


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
