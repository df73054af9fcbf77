"""``bridge iterate``: expert iteration. Round K (1-based) proves the pool's still-unsolved statements
(plus canaries) with the current model, keeps the verified proofs (deduplicated, at most m per
statement, decontaminated, re-checked with ``--strict`` when the kernel checker is there), mixes in
informal rows, fine-tunes from the previous round's adapter, and evaluates pass@k on a held-out set;
round K+1 samples with the new adapter.

Every step leaves an artefact, and a step whose artefact exists is never done again, so a run killed at
any point resumes at the last finished step with the same command::

    DIR/iterate.json              the settings the run was made with (a resume must match them)
    DIR/round-K/pool.json         the statements and canaries of the round
    DIR/round-K/samples/          the prove run store (resumes sample by sample)
    DIR/round-K/data.json         how the training set was built (decontamination, strict, bands)
    DIR/round-K/train/            the datasets snapshot trained on (written atomically)
    DIR/round-K/adapter/          the peft adapter, then DIR/round-K/training_summary.json (written last)
    DIR/round-K/eval/             the held-out prove run store and its report.json
    DIR/round-K/round.json        the round's summary: its presence means the round is finished
    DIR/rounds.json, rounds.md, rounds.png   one entry per finished round
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import BridgeConfig
from bridge.data.problem import Problem
from bridge.errors import BridgeError, InputError, SetupError
from bridge.train import canary
from bridge.train.data import (
    DataConfig,
    InformalRow,
    Proof,
    TrainRow,
    contaminated,
    informal_contaminated,
    informal_train_rows,
    lean_rows,
    load_against,
    mix_quota,
    pick_informal,
    proof_completion,
    read_informal,
    read_synthetic,
    save_snapshot,
    select_proofs,
    verified_proofs,
    write_json,
)
from bridge.train.rounds import write_rounds
from bridge.train.sampling import LazyBackend, SamplingConfig, sampling_backend
from bridge.train.sft import (
    ADAPTER,
    SUMMARY,
    LoraSFTConfig,
    finished,
    free_memory,
    train_sft,
    untrained_summary,
)
from provers.backends.base import SamplingParams
from provers.templates import Family, extract, family_for

INTERRUPTED = 130
ROUND = "round.json"
# settings a resumed run must share with the run it resumes (training hyperparameters may change
# between rounds: each round's training_summary.json records its own)
FIXED = ("pool", "split", "limit", "model", "template", "samples", "params", "data", "informal", "synthetic", "eval",
         "eval_split", "eval_samples", "eval_limit", "canaries", "init_adapter", "demo")


class CanaryProved(BridgeError):
    """A statement known to be false was `proved`: the verifier cannot be trusted, nothing is trained."""

    exit_code = 4


@dataclass
class IterateConfig:
    pool: str
    model: str
    rounds: int
    samples: int
    run_dir: Path
    split: str | None = None
    limit: int | None = None
    template: str | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    eval: str | None = None
    eval_split: str = "test"
    eval_samples: int = 8
    eval_limit: int | None = None
    eval_base: bool = False  # also evaluate the starting model (DIR/base-eval/)
    informal: str | None = None
    synthetic: str | None = None  # `bridge synth` rows: verified again, then in the lean-formalized band
    canaries: int = 4
    strict: str = "auto"  # "auto": when the kernel checker is there; "require": fail without it; "off"
    init_adapter: str | None = None  # round 1 fine-tunes (and samples) from this adapter
    data: DataConfig = field(default_factory=DataConfig)
    train: LoraSFTConfig = field(default_factory=LoraSFTConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    # set by `bridge demo --tiny-model` only (there is no flag): with bridge's stand-in REPL, its verdicts
    # (not Lean's) count as solved and become training rows inside this run, and nowhere else
    demo: bool = False

    def fixed(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"]["decontam"] = list(self.data.decontam)  # as JSON gives it back
        return {k: d[k] for k in FIXED}


def round_dir(run_dir: Path, k: int) -> Path:
    return Path(run_dir) / f"round-{k}"


def strict_status(strict: str, cfg: BridgeConfig) -> tuple[bool, str | None]:
    """(use strict, why not): the kernel checker's availability, asked before anything is checked."""
    if strict == "off":
        return False, "strict re-check turned off (--no-strict)"
    from bridge.lean.project import repl_launch
    from bridge.verify.strict import StrictChecker

    ok, why = StrictChecker(cfg, repl_launch(cfg)).available()
    if not ok and strict == "require":
        raise SetupError(f"--strict was asked for, but the kernel checker is unavailable: {why}",
                         "run `bridge setup` (it builds bridge-check), or drop --strict")
    return ok, None if ok else f"the kernel checker is unavailable: {why}"


def recheck(proofs: list[Proof], problems: dict[str, Problem], fam: Family, cfg: BridgeConfig,
            strict: bool = True, count_stand_in: bool = False) -> tuple[list[Proof], list[dict[str, Any]]]:
    """Check the proofs that would enter training again (with ``--strict``'s kernel replay, or the gate);
    (kept, rejected). ``count_stand_in``: a demo run's (the stand-in's verdicts are kept there only)."""
    from bridge.scale import make_verifier

    cands = [extract(fam, problems[p.problem_id], p.completion, p.sample_id) for p in proofs]
    with make_verifier(dataclasses.replace(cfg, strict=strict)) as v:
        verdicts = {x.id: x for x in v.verify(cands)}
    kept, rejected = [], []
    for p in proofs:
        v = verdicts.get(p.sample_id)
        if v is not None and v.counted(cfg.count_fast_gate, count_stand_in):
            kept.append(p)
        else:
            rejected.append({"sample_id": p.sample_id, "problem_id": p.problem_id,
                             "verdict": v.verdict if v else None, "rule": v.rule if v else None,
                             "reason": (v.reason or "")[:300] if v else "no verdict"})
    return kept, rejected


def _problem_id(sid: str) -> str:
    return sid.rsplit("/", 2)[0]


class Iteration:
    """One ``bridge iterate`` run: the steps of each round, each skipped when its artefact exists."""

    def __init__(self, cfg: IterateConfig, bcfg: BridgeConfig, log: Callable[[str], None]):
        self.cfg, self.bcfg, self.log = cfg, bcfg, log
        self.dir = Path(cfg.run_dir)
        self.fam = family_for(cfg.model, cfg.template)
        self.counted = bcfg.count_fast_gate
        # the stand-in's verdicts count (as solved, as training rows) only in a `bridge demo` run that runs
        # bridge's stand-in REPL: decided in prepare(), fail closed (False) until then
        self.count_stand_in = False
        self.stand_in = False
        self.problems: list[Problem] = []
        self.by_id: dict[str, Problem] = {}
        self.eval_problems: list[Problem] = []
        self.against: dict[str, list[Problem]] = {}
        self.informal: list[InformalRow] = []
        self.informal_dropped: list[dict[str, str]] = []
        self.synthetic: list[tuple[Problem, str]] = []
        self.strict = (False, "not yet asked")

    # -- set-up -----------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything that can fail does so here, before a sample is drawn."""
        from bridge.data.loader import load_dataset

        c = self.cfg
        if c.rounds < 1 or c.samples < 1:
            raise InputError("--rounds and --samples must be at least 1")
        if c.canaries < 1:
            raise InputError("--canaries must be at least 1: a canary in every round's pool is how a broken "
                             "verifier is caught before it trains the model")
        if c.data.train_on not in ("all", "new"):
            raise InputError("--train-on is `all` or `new`")
        every = load_dataset(c.pool, self.bcfg, split=c.split)
        if not every:
            raise InputError(f"{c.pool}: no problems" + (f" in split {c.split!r}" if c.split else ""))
        if not all(p.formal_statement for p in every):
            raise InputError(f"{c.pool} has rows without a formal statement", "the pool must be formal statements")
        self.problems = every[: c.limit] if c.limit is not None else every
        self.by_id = {p.id: p for p in self.problems}
        if len(self.by_id) != len(self.problems):
            raise InputError(f"{c.pool}: problem ids repeat", "give each problem its own id")
        if any(canary.is_canary(p.id) for p in self.problems):
            raise InputError(f"{c.pool}: an id starts with {canary.PREFIX!r}, which canaries use")
        if c.eval:
            self.eval_problems = load_dataset(c.eval, self.bcfg, split=c.eval_split)[: c.eval_limit]
            if not self.eval_problems:
                raise InputError(f"--eval {c.eval}: no problems in split {c.eval_split!r}")
        self.against = load_against(c.data.decontam, self.bcfg)
        if c.eval:
            self.against[f"{c.eval}:{c.eval_split}"] = self.eval_problems
        if c.informal:
            every_informal = read_informal(Path(c.informal))
            # informal rows are held out of evaluation sets too: by the words of their problems
            self.informal_dropped = informal_contaminated(every_informal, self.against)
            gone = {m["id"] for m in self.informal_dropped}
            self.informal = [r for r in every_informal if r.id not in gone]
        if c.synthetic:
            self.synthetic = read_synthetic(Path(c.synthetic))
        if c.init_adapter and not (Path(c.init_adapter) / "adapter_config.json").is_file():
            raise InputError(f"--init-adapter {c.init_adapter}: not a peft adapter (no adapter_config.json)")
        self.strict = strict_status(c.strict, self.bcfg)
        from bridge.lean.project import repl_launch
        from bridge.verify.api import is_stand_in

        self.stand_in = is_stand_in(repl_launch(self.bcfg).argv)  # bridge's stand-in REPL, not Lean
        self.count_stand_in = c.demo and self.stand_in
        self.dir.mkdir(parents=True, exist_ok=True)
        meta_path = self.dir / "iterate.json"
        fixed = c.fixed()
        if meta_path.is_file():
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            for k in FIXED:
                if k in old.get("fixed", {}) and old["fixed"][k] != fixed[k]:
                    raise InputError(f"{self.dir} was made with {k} = {old['fixed'][k]!r}, not {fixed[k]!r}",
                                     "rerun with the same settings to resume, or give another --run-dir")
        write_json(meta_path, {"fixed": fixed, "rounds": c.rounds, "template": self.fam.name,
                               "base_model": c.model, "pool_size": len(self.problems)})

    # -- steps ------------------------------------------------------------------------------------------

    def prove(self, store_dir: Path, problems: list[Problem], samples: int, adapter: Path | None,
              params: SamplingParams, meta: dict[str, Any], watch_canaries: bool) -> bool:
        """Sample and verify into a run store (resuming it); False when stopped by a signal."""
        from tqdm import tqdm

        from bridge.runs import provenance
        from bridge.runs.store import RunStore
        from bridge.scale import make_verifier
        from bridge.signals import stop_on_signals
        from provers.pipeline import Pipeline, ProveSettings

        with make_verifier(self.bcfg) as verifier, RunStore(store_dir) as store:
            provenance.record(store_dir, verifier)
            provenance.record(self.dir, verifier)
            meta = {**meta, "template": self.fam.name, "sampling": params.to_json(), "samples": samples,
                    "adapter": str(Path(adapter).resolve()) if adapter else None,
                    "lean_version": verifier.launch.lean_version,
                    "count_fast_gate": self.counted, "checker": "stand-in" if verifier.stand_in else "lean",
                    # as `bridge prove`'s demo run is marked (RunStore.is_demo): only `bridge demo` sets it
                    "demo": self.count_stand_in and verifier.stand_in}
            store.check_or_set_meta(meta, fixed=("dataset", "model", "adapter", "template", "sampling", "samples"))
            store.add_problems(problems)
            if watch_canaries and self.proved_canaries(store):
                return True  # decided already: the caller stops the run
            done = store.counts()
            if all(done.get(p.id, (0, 0))[0] >= samples for p in problems):
                return True
            backend = LazyBackend(lambda: sampling_backend(self.cfg.sampling, self.cfg.model, adapter, self.dir))
            settings = ProveSettings(samples=samples, params=params, chunk=samples, count_fast_gate=self.counted,
                                     count_stand_in=bool(meta["demo"]))
            total = len(problems) * samples
            bar = tqdm(desc=f"verified ({store_dir.parent.name}/{store_dir.name})", total=total, unit="sample",
                       initial=sum(min(n, samples) for n, _ in done.values()), dynamic_ncols=True)
            pipe: Pipeline | None = None

            def on_verdict(v: Any) -> None:
                bar.update(1)
                if watch_canaries and v.verdict == "proved" and canary.is_canary(_problem_id(v.id)):
                    assert pipe is not None
                    pipe.stop()  # nothing of this round will be trained on: stop sampling now

            pipe = Pipeline(backend, self.fam, verifier, store, settings, on_verdict=on_verdict)
            try:
                with stop_on_signals(pipe.stop, "every sample and verdict"):
                    pipe.run(problems)
            finally:
                bar.close()
                backend.close()
                free_memory()
            if watch_canaries and self.proved_canaries(store):
                return True
            if pipe.stopped:
                return False
            done = store.counts()
            missing = [p.id for p in problems if done.get(p.id, (0, 0))[0] < samples]
            if missing:
                raise BridgeError(f"{store_dir}: {len(missing)} problem(s) still lack verdicts ({missing[0]}, ...)",
                                  "run the same command again")
        return True

    def proved_canaries(self, store: Any) -> list[dict[str, str]]:
        return [{"sample_id": s.id, "problem_id": s.problem_id, "completion": s.completion[:2000]}
                for s, v in store.samples(round_=0)
                if v is not None and v.verdict == "proved" and canary.is_canary(s.problem_id)]

    def evaluate(self, out: Path, adapter: Path | None) -> dict[str, Any] | None:
        """pass@k on the held-out set with ``adapter``: OUT/ is a prove run store with its report.json."""
        from bridge.eval.report import build_report, write_report
        from bridge.runs.store import RunStore

        c = self.cfg
        report_path = out / "report.json"
        if report_path.is_file():
            return json.loads(report_path.read_text(encoding="utf-8"))
        self.log(f"{out.relative_to(self.dir)}: pass@k on {c.eval} ({c.eval_split}, {len(self.eval_problems)} "
                 f"problems x {c.eval_samples} samples), adapter {adapter or 'none'}")
        meta = {"dataset": c.eval, "split": c.eval_split, "model": c.model, "limit": c.eval_limit}
        if not self.prove(out, self.eval_problems, c.eval_samples, adapter, c.params, meta, watch_canaries=False):
            return None
        with RunStore(out) as store:
            report = build_report(store)
        write_report(out, report)
        return report

    def build_data(self, k: int, rd: Path) -> None:
        """DIR/round-K/train/ (and data.json): this round's (or every round's) verified proofs, selected,
        decontaminated, re-checked strictly when possible, mixed with informal rows."""
        from bridge.runs.store import RunStore

        c, d = self.cfg, self.cfg.data
        t0 = time.perf_counter()
        proofs: list[Proof] = []
        for j in ([k] if d.train_on == "new" else range(1, k + 1)):
            with RunStore(round_dir(self.dir, j) / "samples") as store:
                proofs += [p for p in verified_proofs(store, j, self.counted, skip=canary.is_canary,
                                                      count_stand_in=self.count_stand_in)
                           if p.problem_id in self.by_id]
        selected = select_proofs(proofs, d.max_per_statement, d.near_duplicate)
        statements = [self.by_id[pid] for pid in dict.fromkeys(p.problem_id for p in selected)]
        matches = contaminated(statements, self.against)
        dropped = {m["problem_id"] for m in matches}
        clean = [p for p in selected if p.problem_id not in dropped]
        strict_used, strict_why = self.strict
        rejected: list[dict[str, Any]] = []
        if strict_used and clean:
            clean, rejected = recheck(clean, self.by_id, self.fam, self.bcfg, count_stand_in=self.count_stand_in)
        # a demo's rows say where their verdicts came from: the stand-in REPL, not Lean
        lean = lean_rows(clean, self.by_id, self.fam, source=f"stand-in:{c.pool}" if self.count_stand_in else c.pool)
        synth_rows, synth_summary = self.synthetic_rows(k, strict_used)
        lean += synth_rows
        available: dict[str, int] = {}
        for r in self.informal:
            available[r.band] = available.get(r.band, 0) + 1
        quota = mix_quota(len(lean), available, d.mix)
        informal = informal_train_rows(pick_informal(self.informal, quota, f"{d.seed}/{k}"), self.fam,
                                       source=f"informal:{Path(c.informal).name}" if c.informal else "informal")
        rows = lean + informal
        bands: dict[str, int] = {}
        for r in rows:
            bands[r.band] = bands.get(r.band, 0) + 1
        summary = {
            "round": k, "train_on": d.train_on, "verified_proofs": len(proofs), "selected": len(selected),
            "max_per_statement": d.max_per_statement, "near_duplicate": d.near_duplicate,
            "new_proofs": sum(1 for p in clean if p.round == k),
            "decontamination": {"against": list(self.against), "dropped_statements": sorted(dropped),
                                "dropped_proofs": len(selected) - sum(1 for p in selected if p.problem_id not in dropped),
                                "matches": matches},
            "strict": strict_used, "strict_reason": strict_why, "strict_rejected": rejected,
            "synthetic": synth_summary,
            "informal_decontamination": {"dropped": len(self.informal_dropped), "matches": self.informal_dropped},
            "rows": len(rows), "bands": bands, "mix": d.mix, "informal_quota": quota,
            "informal_available": available, "build_s": time.perf_counter() - t0,
        }
        why = no_training_reason(len(proofs), len(selected), len(dropped), len(statements), len(rejected),
                                 len(lean), len(rows), synth_summary)
        if why is not None:
            # nothing to train on: recorded, and no snapshot (an empty one cannot be loaded back); the round
            # carries the previous adapter forward
            summary["no_training_reason"] = why
            write_json(rd / "data.json", summary)
            self.log(f"round {k}: no training rows: {why}")
            return
        write_json(rd / "data.json", summary)
        save_snapshot(rows, rd / "train")
        self.log(f"round {k}: {len(proofs)} verified proofs -> {len(lean)} Lean rows ({summary['new_proofs']} new; "
                 f"{len(dropped)} statement(s) dropped by decontamination; strict: "
                 f"{'yes' if strict_used else 'no, ' + str(strict_why)}) + {len(synth_rows)} synthetic + "
                 f"{len(informal)} informal rows")

    def synthetic_rows(self, k: int, strict: bool) -> tuple[list[TrainRow], dict[str, Any] | None]:
        """``--synthetic`` rows for round ``k``'s training set (every round with ``--train-on all``, round 1
        with ``new``): decontaminated, then verified again (kernel replay when there, else the gate: a
        file's word is not a verdict), in the lean-formalized band."""
        c = self.cfg
        if not self.synthetic:
            return [], None
        if c.data.train_on == "new" and k != 1:
            return [], {"source": c.synthetic, "used": False, "why": "--train-on new: in round 1 only"}
        problems = {p.id: p for p, _ in self.synthetic}
        matches = contaminated(problems.values(), self.against)
        dropped = {m["problem_id"] for m in matches}
        proofs = [Proof(p.id, f"synthetic/{p.id}", 0, proof_completion(self.fam, p, proof), "")
                  for p, proof in self.synthetic if p.id not in dropped]
        kept, rejected = (recheck(proofs, problems, self.fam, self.bcfg, strict=strict,
                                  count_stand_in=self.count_stand_in) if proofs else ([], []))
        source = f"synthetic:{Path(c.synthetic).name}"
        rows = [TrainRow(r.prompt, r.completion, r.problem_id, r.band, source, r.sample_id, 0)
                for r in lean_rows(kept, problems, self.fam, source=source)]
        return rows, {"source": c.synthetic, "used": True, "rows_in": len(self.synthetic), "kept": len(rows),
                      "checked": "strict" if strict else "gate", "dropped_statements": sorted(dropped),
                      "matches": matches, "rejected": rejected}

    def train(self, k: int, rd: Path, init: Path | None) -> None:
        import datasets

        extra = {"round": k, "run_dir": str(self.dir), "pool": self.cfg.pool, "train_data": str(rd / "train"),
                 "checker": "stand-in" if self.stand_in else "lean"}
        data = _read(rd / "data.json") or {}
        if data.get("rows") == 0:
            self.log(f"round {k}: nothing to train on; the previous adapter stands ({init or 'none'})")
            untrained_summary(rd, self.cfg.model, self.fam, init, data.get("no_training_reason") or "no training rows",
                              {**extra, "train_data": None})
            return
        # in memory: the trainer's map() would otherwise write cache files into the snapshot
        ds = datasets.load_from_disk(str(rd / "train"), keep_in_memory=True)
        if len(ds) == 0:
            self.log(f"round {k}: nothing to train on; the previous adapter stands")
            untrained_summary(rd, self.cfg.model, self.fam, init, "no verified proofs to train on", extra)
            return
        self.log(f"round {k}: fine-tuning {self.cfg.model} from {init or 'a fresh LoRA adapter'}")
        train_sft(ds, self.cfg.model, rd, self.fam, self.cfg.train, init_adapter=init, extra=extra, log=self.log)

    # -- the loop ---------------------------------------------------------------------------------------

    def solved_before(self, k: int) -> set[str]:
        from bridge.runs.store import RunStore

        out: set[str] = set()
        for j in range(1, k):
            with RunStore(round_dir(self.dir, j) / "samples") as store:
                out |= {pid for pid in store.solved(self.counted, self.count_stand_in) if not canary.is_canary(pid)}
        return out & set(self.by_id)

    def pool(self, k: int, rd: Path) -> tuple[list[Problem], list[Problem]] | None:
        path = rd / "pool.json"
        if path.is_file():
            d = json.loads(path.read_text(encoding="utf-8"))
            return [self.by_id[i] for i in d["statements"]], [Problem.from_json(x) for x in d["canaries"]]
        solved = self.solved_before(k)
        statements = [p for p in self.problems if p.id not in solved]
        if not statements:
            return None
        cans = canary.canaries(k, self.problems[0].header, [self.by_id[i] for i in sorted(solved)], self.cfg.canaries)
        rd.mkdir(parents=True, exist_ok=True)
        write_json(path, {"round": k, "statements": [p.id for p in statements], "solved_before": len(solved),
                          "canaries": [x.to_json() for x in cans]})
        return statements, cans

    def run_round(self, k: int, init: Path | None) -> int | None:
        """One round; None when finished, else the exit status to stop with."""
        c, rd = self.cfg, round_dir(self.dir, k)
        got = self.pool(k, rd)
        if got is None:
            self.log(f"round {k}: every statement of the pool is solved; nothing left to iterate on")
            return 0
        statements, cans = got
        timings = _read(rd / "timings.json") or {}
        t0 = time.perf_counter()
        self.log(f"round {k}/{c.rounds}: {len(statements)} unsolved statement(s) + {len(cans)} canaries x "
                 f"{c.samples} samples, adapter {init or 'none'}")
        params = dataclasses.replace(c.params, seed=c.params.seed + k - 1)  # new samples each round
        meta = {"dataset": c.pool, "split": c.split, "model": c.model, "limit": c.limit, "iterate_round": k}
        if not self.prove(rd / "samples", statements + cans, c.samples, init, params, meta, watch_canaries=True):
            return self.interrupted()
        from bridge.runs.store import RunStore

        with RunStore(rd / "samples") as store:
            alarm = self.proved_canaries(store)
            counts = store.counts(count_fast_gate=self.counted, count_stand_in=self.count_stand_in)
        if alarm:
            write_json(rd / "canary_alarm.json", {"round": k, "proved": alarm})
            raise CanaryProved(
                f"round {k}: {len(alarm)} sample(s) proved a canary (a statement known to be false: "
                f"{alarm[0]['problem_id']}); the verifier accepts what it must not, so nothing was trained",
                f"see {rd / 'canary_alarm.json'}; check --repl-cmd, the Lean project and the soundness gate "
                "(`bridge doctor --soundness`) before trusting any verdict of this run")
        timings.setdefault("sample_s", time.perf_counter() - t0)
        if not (rd / "train").is_dir() and not _empty_round(rd):
            t0 = time.perf_counter()
            self.build_data(k, rd)
            timings["data_s"] = time.perf_counter() - t0
            write_json(rd / "timings.json", timings)
        if not finished(rd):
            t0 = time.perf_counter()
            self.train(k, rd, init)
            timings["train_s"] = time.perf_counter() - t0
            write_json(rd / "timings.json", timings)
        adapter = rd / ADAPTER if (rd / ADAPTER).is_dir() else None
        report = None
        if c.eval:
            t0 = time.perf_counter()
            report = self.evaluate(rd / "eval", adapter)
            if report is None:
                return self.interrupted()
            timings.setdefault("eval_s", time.perf_counter() - t0)
        write_json(rd / "timings.json", timings)
        summary = round_summary(k, statements, cans, counts, len(self.problems), _read(rd / "data.json") or {},
                                _read(rd / SUMMARY) or {}, report, timings, init, adapter, self.dir, c,
                                stand_in=self.stand_in, stand_in_counted=self.count_stand_in)
        write_json(rd / ROUND, summary)
        write_rounds(self.dir)
        self.log(f"round {k}: done; solved so far {summary['solved_so_far']}/{summary['pool_total']}"
                 + (f", held-out pass@1 {100 * summary['heldout']['pass_at_k'].get('1', 0):.1f}%"
                    if summary.get("heldout") and summary["heldout"]["pass_at_k"].get("1") is not None else ""))
        return None

    def interrupted(self) -> int:
        self.log(f"bridge: stopped: everything decided so far is kept in {self.dir}; run the same command again "
                 "to go on")
        return INTERRUPTED

    def run(self) -> int:
        self.prepare()
        c = self.cfg
        init = Path(c.init_adapter) if c.init_adapter else None
        if c.eval and c.eval_base:
            if self.evaluate(self.dir / "base-eval", init) is None:
                return self.interrupted()
        for k in range(1, c.rounds + 1):
            rd = round_dir(self.dir, k)
            if not (rd / ROUND).is_file():
                code = self.run_round(k, init)
                if code is not None:
                    write_rounds(self.dir)
                    return code
            init = rd / ADAPTER if (rd / ADAPTER).is_dir() else init
        write_rounds(self.dir)
        return 0


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _empty_round(rd: Path) -> bool:
    """Whether the round's training set was built and is empty (data.json says 0 rows, and why)."""
    data = _read(rd / "data.json")
    return bool(data) and data.get("rows") == 0 and bool(data.get("no_training_reason"))


def no_training_reason(verified: int, selected: int, decontaminated: int, statements: int, strict_rejected: int,
                       lean_rows: int, rows: int, synthetic: dict[str, Any] | None) -> str | None:
    """Why a round has no training rows (pure; None when it has some)."""
    if rows:
        return None
    synth = ""
    if synthetic and synthetic.get("used"):
        synth = f"; --synthetic: {synthetic.get('kept', 0)} of {synthetic.get('rows_in', 0)} row(s) kept"
    elif synthetic:
        synth = f"; --synthetic: {synthetic.get('why')}"
    if verified == 0:
        return "no proof was accepted (no verified proof of a pool statement)" + synth
    if statements and decontaminated == statements:
        return (f"every statement with a verified proof ({statements}) matched an evaluation set and was dropped "
                "by decontamination (see decontamination.matches)" + synth)
    if strict_rejected and lean_rows == 0:
        return f"the strict re-check rejected every remaining proof ({strict_rejected})" + synth
    return f"no Lean rows from {selected} selected proof(s)" + synth


def round_summary(k: int, statements: list[Problem], cans: list[Problem], counts: dict[str, tuple[int, int]],
                  pool_total: int, data: dict[str, Any], training: dict[str, Any], report: dict[str, Any] | None,
                  timings: dict[str, float], init: Path | None, adapter: Path | None, run_dir: Path,
                  cfg: IterateConfig, stand_in: bool = False, stand_in_counted: bool = False) -> dict[str, Any]:
    """The round's entry in rounds.json (pure: from what the steps wrote); ``stand_in``: the verdicts are
    the stand-in REPL's, not Lean's; ``stand_in_counted``: and they counted (a `bridge demo` run only)."""
    solved_now = [p.id for p in statements if counts.get(p.id, (0, 0))[1] > 0]
    ids = {p.id for p in statements}
    solved_before = pool_total - len(statements)
    heldout = None
    if report is not None:
        heldout = {"dataset": cfg.eval, "split": cfg.eval_split, "samples": cfg.eval_samples,
                   "problems": report.get("problems_total"), "solved": report.get("solved"),
                   "pass_at_k": report.get("pass_at_k", {}), "report": str(round_dir(run_dir, k) / "eval" / "report.json")}

    def rel(p: str | Path | None) -> str | None:  # inside the run directory: relative to it
        if not p:
            return None
        try:
            return str(Path(p).resolve().relative_to(Path(run_dir).resolve()))
        except ValueError:
            return str(p)

    return {
        "round": k,
        "checker": "stand-in" if stand_in else "lean",
        "stand_in_counted": stand_in_counted,
        "statements_in_pool": len(statements),
        "canaries": len(cans),
        "canaries_proved": 0,
        "samples": sum(n for pid, (n, _) in counts.items() if pid in ids),
        "proved_samples": sum(c for pid, (_, c) in counts.items() if pid in ids),
        "newly_solved": len(solved_now),
        "solved_so_far": solved_before + len(solved_now),
        "pool_total": pool_total,
        "new_proofs": data.get("new_proofs", 0),
        "training_rows": data.get("rows", 0),
        "no_training_reason": data.get("no_training_reason"),
        "training_rows_by_band": data.get("bands", {}),
        "training_tokens": training.get("train_tokens", 0),
        "trained": training.get("trained", False),
        "decontaminated_statements": len((data.get("decontamination") or {}).get("dropped_statements", [])),
        "strict": data.get("strict", False),
        "strict_reason": data.get("strict_reason"),
        "strict_rejected": len(data.get("strict_rejected", [])),
        "sampled_with": {"model": cfg.model, "adapter": rel(init)},
        "init_adapter": rel(training.get("init_adapter")) if training else rel(init),
        "adapter": rel(adapter),
        "parameter_counts": (training.get("model") or {}).get("parameter_counts"),
        "train_loss": training.get("train_loss"),
        "heldout": heldout,
        "wall_s": timings,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
