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
from bridge.data.decontam import NGRAM
from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.api import Verifier
from bridge.verify.candidate import from_stored
from bridge.verify.lean_text import statement_name
from bridge.verify.verdict import Verdict
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
from provers.formalize.report import build_report, write_report
from provers.formalize.stages import (
    DEFAULT_BUDGET,
    LEAN_STAGES,
    PROVED,
    STAGES,
    Formalization,
    StageResult,
    check_extracted,
    check_proved,
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
from provers.pipeline import Pipeline, ProveSettings, prove_into, verdicts_by_problem
from provers.templates import Family

SCHEMA = """
CREATE TABLE IF NOT EXISTS funnel (cand_id TEXT NOT NULL, stage TEXT NOT NULL, passed INTEGER NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, data TEXT NOT NULL, created REAL, PRIMARY KEY (cand_id, stage));
"""
JUDGE_SAMPLING = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=2048)
PROVE_DIR = "prove"  # RUN_DIR/prove: the `bridge prove` run of the survivors (--prove N)
PROVED_FILE = "proved.jsonl"  # the proved (statement, proof) rows for `train sft` and `iterate --synthetic`
LEAN_BAND = "lean-formalized"


@dataclass
class ProveStage:
    """``--prove N``: the prover, its prompt family and sampling; N = ``settings.samples``."""

    backend: Backend
    family: Family
    settings: ProveSettings
    meta: dict[str, Any]  # the prove run's meta (model, template, sampling, endpoint)


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
    ngram: int = NGRAM

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
        self._prover: Pipeline | None = None

    def stop(self) -> None:
        """Ask the model for nothing more and stop verification (safe from a signal handler)."""
        self.stopped = True
        if self._prover is not None:
            self._prover.stop()
        self.verifier.stop()

    # -- the proof stage (--prove N) ------------------------------------------------------------------

    def prove(self, survivors: list[tuple[Formalization, dict[str, Any]]], stage: ProveStage,
              prove_dir: Path | None = None) -> None:
        """N proofs of every survivor (a prove run in ``prove_dir``, default RUN_DIR/prove), then the ``proved``
        stage of each survivor whose N proofs are all decided. A rerun generates and checks only what is
        missing."""
        prove_dir = Path(prove_dir) if prove_dir is not None else self.store.dir / PROVE_DIR
        if self.stopped or not survivors:
            return
        problems = [survivor_problem(row) for _, row in survivors]
        self.log(f"{PROVED}: {len(problems)} survivor(s) x {stage.settings.samples} proof(s)")

        def started(pipe: Pipeline) -> None:
            self._prover = pipe

        stopped = prove_into(prove_dir, problems, stage.backend, stage.family, self.verifier,
                             stage.settings, stage.meta, started=started)
        self.stopped = self.stopped or stopped
        with RunStore(prove_dir) as ps:
            by_problem = verdicts_by_problem(ps)
        for f, row in survivors:
            if PROVED in f.results:
                continue
            r = check_proved(stage.settings.samples, by_problem.get(row["name"], {}), stage.settings.count_fast_gate)
            if r is not None:
                self.results.add(f.id, r)
                f.results[PROVED] = r

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


def make_prove_stage(model: str, endpoint: str | None, template: str | None, params: SamplingParams, n: int,
                     count_fast_gate: bool = False, use_vllm: bool = False) -> ProveStage:
    """The prover of ``--prove N`` as `bridge prove` makes it (``make_backend``, ``family_for``, ``ProveSettings``)."""
    from provers.backends import make_backend
    from provers.templates import family_for

    family = family_for(model, template)
    settings = ProveSettings(samples=n, params=params, chunk=n, count_fast_gate=count_fast_gate)
    meta = {"kind": "prove", "dataset": "formalized.jsonl", "split": None, "model": model, "template": family.name,
            "sampling": params.to_json(), "endpoint": endpoint, "rounds": 0, "stop_on_first": False}
    return ProveStage(make_backend(model, endpoint=endpoint, use_vllm=use_vllm), family, settings, meta)


# -- one run: the funnel, then (--prove N) the proofs ---------------------------------------------------------

FIXED = ("kind", "input", "model", "template", "sampling", "header", "budget", "judges", "votes", "vote_rule",
         "judge_sampling", "decontam", "ngram", "stages")  # what a resumed run must have been made with


@dataclass
class FormalizeOutcome:
    forms: list[Formalization]
    survivors: list[tuple[Formalization, dict[str, Any]]]  # the candidate and its formalized.jsonl row
    report: dict[str, Any]
    proved: list[dict[str, Any]]  # proved.jsonl rows (--prove N)
    stopped: bool


def formalize_into(funnel: Funnel, problems: list[Problem], meta: dict[str, Any], prove: ProveStage | None = None,
                   prove_dir: Path | None = None) -> FormalizeOutcome:
    """``bridge formalize`` over ``problems`` with a funnel over a run store whose meta is set: the funnel, the
    survivors' rows, and with ``prove`` their proofs (in ``prove_dir``, default RUN_DIR/prove), the report.
    A stopped run (``outcome.stopped``) has no report: the same call again goes on."""
    forms = funnel.run(problems)
    served = getattr(funnel.backend, "served_model", None)
    if served:
        funnel.store.set_meta({"served_model": served})
    meta = {**meta, **funnel.store.meta()}
    stages = funnel.s.stages()
    by_id = {p.id: p for p in problems}
    survived = [(f, survivor_row(f, by_id[f.problem_id], meta, stages)) for f in forms if f.status(stages) == "survived"]
    if prove is not None and not funnel.stopped:
        funnel.prove(survived, prove, prove_dir)
    if funnel.stopped:
        return FormalizeOutcome(forms, survived, {}, [], True)
    report = build_report(forms, problems, stages, meta, proved=prove is not None)
    pdir = Path(prove_dir) if prove_dir is not None else funnel.store.dir / PROVE_DIR
    proved = proved_rows(pdir, survived) if prove is not None and survived else []
    return FormalizeOutcome(forms, survived, report, proved, False)


def write_outputs(run_dir: Path, out: FormalizeOutcome, output: Path | None = None,
                  prove: bool = False) -> list[Path]:
    """formalized.jsonl (or ``output``), candidates.jsonl, proved.jsonl (with ``prove``), report.json/.md."""
    run_dir = Path(run_dir)
    stages = tuple(out.report["stages"])
    dest = Path(output) if output else run_dir / "formalized.jsonl"
    write_jsonl(dest, [row for _, row in out.survivors])
    write_jsonl(run_dir / "candidates.jsonl", [candidate_row(f, stages) for f in out.forms])
    paths = [dest, run_dir / "candidates.jsonl"]
    if prove:
        write_jsonl(run_dir / PROVED_FILE, out.proved)
        paths.append(run_dir / PROVED_FILE)
    return paths + write_report(run_dir, out.report)


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
        # one line: the input and the next step
        raise InputError(f"{name_or_path}: no informal statements" + (f" in split {split!r}" if split else "")
                         + '; give a JSONL file of {"id", "informal"} rows or a dataset with informal statements')
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


def survivor_problem(row: dict[str, Any]) -> Problem:
    """A survivor row as the problem the prover is asked to prove."""
    name = statement_name(row["formal_statement"])[1] or row["name"]
    return Problem(id=row["name"], split=row["split"], header=row["header"], formal_statement=row["formal_statement"],
                   informal_statement=row.get("informal_prefix") or "", informal_solution=row.get("informal_solution") or "",
                   source=row.get("source") or "", tags=list(row.get("tags") or []), name=name)


def proved_row(f: Formalization, row: dict[str, Any], samples: dict[str, tuple[str, str]],
               verdicts: dict[str, Verdict], prover: dict[str, Any]) -> dict[str, Any] | None:
    """A proved survivor as a training row (``bridge train sft`` and ``iterate --synthetic`` read it):
    the statement and its shortest verified proof that needs no helper lemma (the row has no place for
    one), band lean-formalized, provenance with the funnel's and the proof's. None without such a proof."""
    r = f.results.get(PROVED)
    if r is None or not r.passed:
        return None
    best: tuple[int, str, str] | None = None
    for sid in r.data.get("proofs") or []:
        if sid not in samples:
            continue
        header, body = samples[sid]
        c = from_stored(sid, header, row["formal_statement"], body)
        if c.helpers.strip() or c.statement != row["formal_statement"] or not c.proof.strip():
            continue
        if best is None or (len(c.proof), sid) < (best[0], best[1]):
            best = (len(c.proof), sid, c.proof)
    if best is None:
        return None
    _, sid, proof = best
    v = verdicts.get(sid)
    return {"name": row["name"], "split": "train", "header": row["header"], "formal_statement": row["formal_statement"],
            "proof": proof, "informal_prefix": row.get("informal_prefix") or "",
            "informal_solution": row.get("informal_solution") or "", "band": LEAN_BAND, "source": "formalize",
            "tags": [*(row.get("tags") or []), "formalized"],
            "provenance": {**row["provenance"], "proof": {"sample_id": sid, "prover": prover.get("model"),
                                                           "template": prover.get("template"),
                                                           "verdict": v.verdict if v else None,
                                                           "gate": v.gate if v else None,
                                                           "checker": v.checker if v else None,
                                                           "proved": r.data.get("proved"),
                                                           "samples": r.data.get("samples")}}}


def proved_rows(prove_dir: Path, survivors: list[tuple[Formalization, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every proved survivor's training row, read from the prove run in ``prove_dir``."""
    with RunStore(Path(prove_dir)) as ps:
        prover = ps.meta()
        stored = ps.samples(round_=0)
    samples = {s.id: (s.header, s.body) for s, _ in stored}
    verdicts = {s.id: v for s, v in stored if v is not None}
    out = []
    for f, row in survivors:
        r = proved_row(f, row, samples, verdicts, prover)
        if r is not None:
            out.append(r)
    return out


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
