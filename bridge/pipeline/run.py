"""The pipeline's runner: each stage is its command's library function, run into the directory that command
would use, under one RUN_DIR:

  RUN_DIR/solve/       `bridge solve`      graded informal answers (maj@k), report.json, rft.jsonl
  RUN_DIR/formalize/   `bridge formalize`  the funnel; formalized.jsonl, proved.jsonl, report.json (a `proved` row)
  RUN_DIR/prove/       `bridge prove`      N proofs of each survivor; report.json
  RUN_DIR/synth/       `bridge synth`      have-lift / mutate of the verified proofs; synthetic.jsonl
  RUN_DIR/train*.jsonl                     training rows with bands (informal bands, lean-formalized)
  RUN_DIR/iterate/     `bridge iterate`    optional: expert iteration over the formalized statements
  RUN_DIR/report.json, report.md           per-stage yields and simple_to_lean

Every stage is resumable on its own (its store keeps what was made), so a rerun of the same command after a
kill at any point makes only what is missing; outputs are written whole or not at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig
from bridge.data.problem import Problem
from bridge.errors import InputError
from bridge.informal.problem import InformalProblem
from bridge.pipeline.plan import Plan
from bridge.pipeline.report import build_report, carried_answer, write_report
from bridge.runs import provenance
from bridge.scale import make_verifier as scaled_verifier
from bridge.verify.api import Verifier
from provers.backends.base import SamplingParams

PLAN_FILE = "pipeline.json"
TRAIN, TRAIN_INFORMAL, TRAIN_LEAN = "train.jsonl", "train_informal.jsonl", "train_lean.jsonl"


class Stopped(Exception):
    """A stage was stopped (Ctrl-C, SIGTERM): what it made is kept; the same command again goes on."""


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    from provers.formalize.funnel import write_jsonl

    write_jsonl(path, rows)


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not Path(path).is_file():
        return []
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]


class PipelineRun:
    def __init__(self, plan: Plan, cfg: BridgeConfig, log: Callable[[str], None] | None = None,
                 strict_checker: object | None = None):
        self.plan = plan
        self.cfg = cfg
        self.log = log or (lambda m: None)
        self.dir = Path(plan.run_dir)
        self.strict_checker = strict_checker
        self.stopped = False
        self._stoppers: list[Callable[[], None]] = []

    def stop(self) -> None:
        """Stop the stage under way (safe from a signal handler)."""
        self.stopped = True
        for s in list(self._stoppers):
            s()

    def _hold(self, obj: Any) -> None:
        self._stoppers.append(obj.stop)
        if self.stopped:
            obj.stop()

    def _check(self) -> None:
        if self.stopped:
            raise Stopped

    # -- the run ------------------------------------------------------------------------------------

    def check_plan(self) -> None:
        """A resumed run must be made with the same plan (where models are served may change)."""
        path = self.dir / PLAN_FILE
        if path.is_file():
            old = Plan()
            from bridge.pipeline.plan import apply

            apply(old, json.loads(path.read_text(encoding="utf-8")), str(path))
            a, b = old.fixed(), self.plan.fixed()
            for k in a:
                if a[k] != b[k]:
                    raise InputError(f"{self.dir} was made with {k} = {a[k]!r}, not {b[k]!r}",
                                     "rerun with the same plan to resume, or give another run directory")
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(self.plan.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)

    def run(self) -> dict[str, Any]:
        """Every stage in order; the report. Raises Stopped when stopped."""
        from bridge.informal.datasets import load_informal

        self.check_plan()
        problems = load_informal(self.plan.input, self.cfg, split=self.plan.split)
        problems = problems[: self.plan.limit] if self.plan.limit is not None else problems
        if not problems:
            raise InputError(f"{self.plan.input}: no problems", "give a JSONL of {\"id\", \"problem\", \"answer\"} rows")
        against = self.decontam(self.plan.formalize.decontam)  # before anything runs: it fails closed
        self.log(f"pipeline: {len(problems)} problem(s) -> {self.dir}")
        solve_report = self.solve(problems)
        with scaled_verifier(self.cfg) as verifier:
            provenance.record(self.dir, verifier)
            formalize = self.formalize(problems, verifier, against)
        synth = self.synth(formalize)
        train = self.training_rows()
        iterate = self.iterate(train) if self.plan.iterate.enabled else None
        prove_report = read_json(self.dir / "prove" / "report.json")
        report = build_report(self.plan, problems, solve_report, formalize, prove_report, synth, train, iterate,
                              self.solve_results(problems))
        write_report(self.dir, report)
        return report

    def decontam(self, text: str | None) -> dict[str, list[Problem]]:
        from bridge.train.data import load_against

        names = [n.strip() for n in (text or "").split(",") if n.strip()]
        return {} if names in ([], ["none"]) else load_against(names, self.cfg)

    # -- solve ----------------------------------------------------------------------------------------

    def solve(self, problems: list[InformalProblem]) -> dict[str, Any]:
        from bridge.informal.families import family_for
        from bridge.informal.report import finish
        from bridge.informal.store import KIND, SolveStore
        from provers.backends import make_backend
        from provers.solve import FIXED, SolveSettings, solve_into

        s = self.plan.solve
        fam = family_for(s.model, s.template)
        params = SamplingParams(s.temperature, s.top_p, s.max_tokens, self.plan.seed)
        ep = self.plan.endpoint_of("solve")
        with SolveStore(self.dir / "solve") as store:
            meta = {"kind": KIND, "dataset": self.plan.input, "split": self.plan.split, "limit": self.plan.limit,
                    "model": s.model, "template": fam.name, "mode": "cot", "sampling": params.to_json(),
                    "samples": s.samples, "tir_rounds": None, "grader": s.grader, "endpoint": ep,
                    "rft_per_problem": s.rft_per_problem, "lean_run": None}
            store.check_meta(meta, fixed=FIXED)
            backend = make_backend(s.model, endpoint=ep)
            store.set_meta(meta)
            self.log(f"solve: {len(problems)} problem(s) x {s.samples} solution(s)")
            if solve_into(store, problems, backend, fam, SolveSettings(samples=s.samples, mode="cot", params=params),
                          s.grade_workers, started=self._hold):
                raise Stopped
            self._check()
            report, _ = finish(store)
        return report

    def solve_results(self, problems: list[InformalProblem]) -> dict[str, Any]:
        """problem id -> its informal result under the run's grader (for simple_to_lean)."""
        from bridge.informal.report import problem_result
        from bridge.informal.store import SolveStore

        with SolveStore(self.dir / "solve") as store:
            grades = store.grades()
            mode = store.meta().get("grader") or "math-verify"
        return {p.id: problem_result(p, grades.get(p.id), mode, {}) for p in problems}

    # -- formalize and prove --------------------------------------------------------------------------

    def formalize(self, problems: list[InformalProblem], verifier: Verifier,
                  against: dict[str, list[Problem]]) -> Any:
        from provers.backends import make_backend
        from provers.formalize.funnel import (
            FIXED,
            JUDGE_SAMPLING,
            FormalizeSettings,
            Funnel,
            formalize_into,
            make_prove_stage,
            write_outputs,
        )
        from provers.formalize.prompts import DEFAULT_HEADER, formalizer_for
        from provers.formalize.stages import parse_rule

        f, pv = self.plan.formalize, self.plan.prove
        fam = formalizer_for(f.model, f.template)
        d = fam.sampling
        params = SamplingParams(d.temperature if f.temperature is None else f.temperature,
                                d.top_p if f.top_p is None else f.top_p,
                                d.max_tokens if f.max_tokens is None else f.max_tokens, self.plan.seed)
        judge_params = SamplingParams(f.judge_temperature, JUDGE_SAMPLING.top_p, f.judge_max_tokens, self.plan.seed)
        try:
            rule = parse_rule(f.vote)
        except ValueError as e:
            raise InputError(f"formalize.vote: {e}") from None
        judges = tuple(dict.fromkeys(f.judges or [f.model]))
        header = f.header if f.header is not None else DEFAULT_HEADER
        header = header if header.endswith("\n") else header + "\n"
        settings = FormalizeSettings(candidates=f.candidates, params=params, header=header, budget=tuple(f.budget),
                                     judges=judges, votes=f.votes, vote_rule=rule, judge_params=judge_params,
                                     back_translation=f.back_translation, ngram=f.ngram)
        ep = self.plan.endpoint_of("formalize")
        informal = [formal_input(p) for p in problems]
        fdir, pdir = self.dir / "formalize", self.dir / "prove"
        from bridge.runs.store import RunStore

        with RunStore(fdir) as store:
            provenance.record(fdir, verifier)
            meta = {"kind": "formalize", "input": self.plan.input, "split": self.plan.split, "limit": self.plan.limit,
                    "model": f.model, "endpoint": ep, "template": fam.name, "template_source": fam.source,
                    "sampling": params.to_json(), "candidates_per_statement": f.candidates, "header": header,
                    "budget": list(f.budget), "judges": list(judges) if f.back_translation else [],
                    "votes": f.votes, "vote_rule": rule, "judge_sampling": judge_params.to_json(),
                    "decontam": list(against), "ngram": f.ngram, "stages": list(settings.stages()),
                    "lean_version": verifier.launch.lean_version, "prove": pv.samples, "prove_dir": str(pdir)}
            store.check_meta(meta, fixed=FIXED)
            backend = make_backend(f.model, endpoint=ep)
            judge_backends = {m: backend if m == f.model else make_backend(m, endpoint=ep)
                              for m in (judges if f.back_translation else ())}
            store.set_meta(meta)
            store.add_problems(informal)
            funnel = Funnel(fam, backend, verifier, store, settings, against, judge_backends, log=self.log)
            self._hold(funnel)
            pparams = SamplingParams(pv.temperature, pv.top_p, pv.max_tokens, self.plan.seed)
            prover = make_prove_stage(pv.model, self.plan.endpoint_of("prove"), pv.template, pparams, pv.samples,
                                      bool(self.cfg.count_fast_gate))
            out = formalize_into(funnel, informal, meta, prover, pdir)
        if out.stopped:
            raise Stopped
        write_outputs(fdir, out, prove=True)
        return out

    # -- synth ------------------------------------------------------------------------------------------

    def synth(self, formalize: Any) -> Any:
        from bridge.runs.store import RunStore
        from provers.synth import (
            FIXED,
            Synth,
            SynthOutcome,
            load_seeds,
            strict_status,
            synth_into,
            write_outputs,
        )

        sy = self.plan.synth
        pdir, sdir = self.dir / "prove", self.dir / "synth"
        count_fast = bool(self.cfg.count_fast_gate)
        seeds = load_seeds(str(pdir), count_fast) if (pdir / "run.sqlite").is_file() else []
        if not sy.enabled or not seeds:
            self.log("synth: " + ("off" if not sy.enabled else "no verified proof to start from"))
            return SynthOutcome([], {"seeds": len(seeds), "kept": 0}, False)
        against = self.decontam(sy.decontam if sy.decontam is not None else self.plan.formalize.decontam)
        base_cfg = dataclasses.replace(self.cfg, strict=False)
        strict = strict_status("auto", base_cfg, self.strict_checker)

        def make_verifier(use_strict: bool) -> Verifier:
            v = (scaled_verifier(dataclasses.replace(base_cfg, strict=True), strict_checker=self.strict_checker)
                 if use_strict else scaled_verifier(base_cfg))
            provenance.record(sdir, v)
            return v

        meta = {"kind": "synth", "source": str(pdir), "methods": list(sy.methods), "limit": None,
                "decontam": list(against), "ngram": sy.ngram, "strict": strict[0], "strict_reason": strict[1]}
        with RunStore(sdir) as store:
            store.check_meta(meta, fixed=FIXED)
            store.set_meta(meta)
            synth = Synth(sdir, store, tuple(sy.methods), make_verifier, against, sy.ngram, strict, count_fast,
                          log=self.log)
            self._hold(synth)
            out = synth_into(synth, seeds, meta)
        if out.stopped:
            raise Stopped
        write_outputs(sdir, out)
        return out

    # -- training rows ------------------------------------------------------------------------------------

    def training_rows(self) -> dict[str, Any]:
        """RUN_DIR/train_informal.jsonl (the solve stage's correct solutions, bands simple/intermediate/advanced
        from its measured solve rates), train_lean.jsonl (verified Lean: the proved statements and the
        synthetic theorems, band lean-formalized) and train.jsonl (both, for `bridge train sft`)."""
        informal = read_rows(self.dir / "solve" / "rft.jsonl")
        lean = read_rows(self.dir / "formalize" / "proved.jsonl") + read_rows(self.dir / "synth" / "synthetic.jsonl")
        write_rows(self.dir / TRAIN_INFORMAL, informal)
        write_rows(self.dir / TRAIN_LEAN, lean)
        write_rows(self.dir / TRAIN, informal + lean)
        by_band: dict[str, int] = {}
        for r in informal + lean:
            by_band[str(r.get("band"))] = by_band.get(str(r.get("band")), 0) + 1
        return {"informal": len(informal), "lean": len(lean), "rows": len(informal) + len(lean),
                "by_band": dict(sorted(by_band.items()))}

    # -- iterate (optional) -------------------------------------------------------------------------------

    def iterate(self, train: dict[str, Any]) -> dict[str, Any]:
        from bridge.train.data import DataConfig
        from bridge.train.iterate import IterateConfig, Iteration
        from bridge.train.rounds import finished_rounds
        from bridge.train.sampling import SamplingConfig
        from bridge.train.sft import LoraSFTConfig

        it, pv = self.plan.iterate, self.plan.prove
        pool = self.dir / "formalize" / "formalized.jsonl"
        if not read_rows(pool):
            self.log("iterate: no formalized statement to iterate over")
            return {"code": None, "rounds": 0}
        ep = it.endpoint  # an endpoint must serve the adapters iterate trains: not the prover's by default
        names = [n.strip() for n in self.plan.formalize.decontam.split(",") if n.strip() and n.strip() != "none"]
        cfg = IterateConfig(pool=str(pool), model=it.model or pv.model, rounds=it.rounds, samples=it.samples,
                            run_dir=self.dir / "iterate", template=pv.template,
                            params=SamplingParams(pv.temperature, pv.top_p, it.max_tokens, self.plan.seed),
                            informal=str(self.dir / TRAIN_INFORMAL) if train["informal"] else None,
                            synthetic=str(self.dir / TRAIN_LEAN) if train["lean"] else None,
                            canaries=it.canaries, data=DataConfig(decontam=tuple(names)),
                            train=LoraSFTConfig(lora_r=it.lora_r, max_steps=it.max_steps, max_length=it.max_length,
                                                learning_rate=it.learning_rate, device=it.device),
                            sampling=SamplingConfig(backend="endpoint" if ep else "transformers", endpoint=ep,
                                                    device=it.device,
                                                    max_lora_rank=max(8, 1 << (it.lora_r - 1).bit_length())))
        code = Iteration(cfg, self.cfg, self.log).run()
        if code == 130:
            raise Stopped
        return {"code": code, "rounds": len(finished_rounds(self.dir / "iterate"))}


def formal_input(p: InformalProblem) -> Problem:
    """An informal problem as the funnel's input: its text, and its answer where the problem asks for one
    (the funnel appends "The answer is X.", so the statement carries it)."""
    return Problem(id=p.id, split=p.split or "test", header="", formal_statement="", informal_statement=p.problem,
                   informal_solution=carried_answer(p.answer), source=p.source or "input", band=p.band, name=p.id)


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
