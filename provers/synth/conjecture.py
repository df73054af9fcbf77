"""``conjecture``: the model proposes related statements from a solved one (STP); the prover samples
K proofs of each; those whose pass rate lies in the window are kept. The run steps are a mixin of
:class:`provers.synth.run.Synth`."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.data.problem import Problem
from bridge.errors import SetupError
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.candidate import Candidate
from provers.backends.base import Backend, SamplingParams
from provers.formalize.funnel import FunnelStore
from provers.formalize.prompts import conjecture_prompt, conjecture_statement
from provers.formalize.stages import (
    check_uncontaminated,
    check_unique,
    check_well_formed,
    dedupe_key,
    lean_candidate,
    lean_result,
    no,
)
from provers.formalize.statement import (
    lean_name,
)
from provers.synth.common import DEFAULT_WINDOW, STP_LEMMA, Seed, SynthItem
from provers.synth.seeds import seed_parts

# -- choosing (pure) ---------------------------------------------------------------------------------------


def in_window(rate: float, window: tuple[float, float]) -> bool:
    """STP's window: lo < rate <= hi (a conjecture never proved is no item; one always proved teaches little)."""
    lo, hi = window
    return lo < rate <= hi


def parse_window(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--window must be LO,HI (e.g. 0,0.25), not {text!r}") from None
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"--window {text}: need 0 <= LO < HI <= 1")
    return lo, hi


@dataclass
class ConjectureSettings:
    per_seed: int = 4  # conjectures asked per seed
    samples: int = 32  # proofs sampled per conjecture to measure its pass rate (STP's K)
    window: tuple[float, float] = DEFAULT_WINDOW
    lemma: str = STP_LEMMA
    params: SamplingParams = field(default_factory=SamplingParams)
    prover_params: SamplingParams = field(default_factory=SamplingParams)



class ConjectureSteps:
    """The conjecture method's steps of a :class:`provers.synth.run.Synth` run (its state: conjecturer,
    prover, settings, stores)."""

    # set by Synth.__init__
    dir: Path
    cs: ConjectureSettings
    conjecturer: Backend | None
    prover: tuple[Backend, Any] | None
    against: dict[str, list[Problem]]
    ngram: int
    make_verifier: Callable[[bool], Any]
    count_fast_gate: bool
    stopped: bool
    _stoppers: list[Callable[[], None]]
    conjecture_report: dict[str, Any]
    _conjecture_contaminated: list[dict[str, Any]]

    def conjectures(self, seeds: list[Seed]) -> list[SynthItem]:
        """Ask for conjectures, screen them cheaply (well formed, new, clean, elaborates), measure each
        one's pass rate with the prover, keep those in the window with their shortest proof."""
        assert self.conjecturer is not None and self.prover is not None, "conjecture needs a conjecturer and a prover"
        cs = self.cs
        with RunStore(self.dir / "conjectures") as cstore:
            results = FunnelStore(cstore)
            for s in seeds:
                if self.stopped:
                    return []
                have = cstore.sample_indices(s.id, 0)
                missing = [i for i in range(cs.per_seed) if i not in have]
                if not missing:
                    continue
                prompt = conjecture_prompt(cs.lemma, s.statement + s.proof)
                assert isinstance(prompt, str)
                params = dataclasses.replace(cs.params, seed=(cs.params.seed + zlib.crc32(s.id.encode()) + missing[0]) % 2**31)
                for i, text in zip(missing, self.conjecturer.generate(prompt, len(missing), params), strict=True):
                    stmt = conjecture_statement(text) or ""
                    cstore.add_sample(SampleRow(sample_id(s.id, 0, i), s.id, 0, i, text, s.header, stmt), prompt,
                                      params.to_json())
            by_seed = {s.id: (k, s) for k, s in enumerate(seeds)}
            rows = sorted(((r, by_seed[r.problem_id][1]) for r, _ in cstore.samples(round_=0) if r.problem_id in by_seed),
                          key=lambda rs: (by_seed[rs[0].problem_id][0], rs[0].idx))
            decided = results.results()
            seen = {dedupe_key(s.statement): f"seed {s.id}" for s in seeds}
            for r, _s in rows:  # earlier decisions first: a rerun sees the same duplicates
                res = decided.get(r.id, {})
                if res.get("unique") is not None and res["unique"].passed:
                    seen[dedupe_key(r.body)] = r.id
            lean_due: list[tuple[SampleRow, Seed]] = []
            for r, s in rows:
                res = decided.get(r.id, {})
                for stage in ("well_formed", "unique", "uncontaminated"):
                    if stage in res:
                        if not res[stage].passed:
                            break
                        continue
                    if stage == "well_formed":
                        out = (check_well_formed(r.body, r.header) if r.body
                               else no("well_formed", "no statement", "the completion holds no conjecture"))
                    elif stage == "unique":
                        out = check_unique(r.id, r.body, seen)
                    else:
                        out = check_uncontaminated(r.id, r.body, self.against, self.ngram)
                    results.add(r.id, out)
                    res[stage] = out
                    if not out.passed:
                        break
                else:
                    if "elaborates" not in res:
                        lean_due.append((r, s))
            if lean_due:
                with self.make_verifier(False) as verifier:
                    self._stoppers.append(verifier.stop)
                    cands = [lean_candidate("elaborates", r.id, r.body, r.header, ()) for r, _ in lean_due]
                    for v in verifier.verify([c for c in cands if isinstance(c, Candidate)]):
                        if v.rule == "setup":
                            raise SetupError(f"a seed's header does not elaborate: {v.reason}",
                                             "check the Lean project (bridge doctor)")
                        results.add(v.id.rsplit("#", 1)[0], lean_result("elaborates", v))
                    self._stoppers.remove(verifier.stop)
                    if verifier.stopped:
                        self.stopped = True
                        return []
            decided = results.results()
            alive = [(r, s) for r, s in rows if all(decided.get(r.id, {}).get(st) is not None and
                                                     decided[r.id][st].passed
                                                     for st in ("well_formed", "unique", "uncontaminated", "elaborates"))]
            self._conjecture_contaminated = [
                {"id": r.id, "method": "conjecture", "against": res["uncontaminated"].data.get("against"),
                 "against_id": res["uncontaminated"].data.get("against_id"), "reason": res["uncontaminated"].reason,
                 "score": res["uncontaminated"].data.get("score")}
                for r, _ in rows if (res := decided.get(r.id, {})).get("uncontaminated") is not None
                and not res["uncontaminated"].passed]
            stage_counts = {st: {"entered": sum(1 for r, _ in rows if st in decided.get(r.id, {})),
                                 "passed": sum(1 for r, _ in rows if st in decided.get(r.id, {}) and decided[r.id][st].passed)}
                            for st in ("well_formed", "unique", "uncontaminated", "elaborates")}
        items = self._attempt(alive, stage_counts, len(rows))
        return items

    def _attempt(self, alive: list[tuple[SampleRow, Seed]], stage_counts: dict[str, Any], generated: int) -> list[SynthItem]:
        from provers.pipeline import Pipeline, ProveSettings
        from provers.templates import extract

        assert self.prover is not None
        backend, family = self.prover
        cs = self.cs
        problems = [Problem(id=f"{r.id.replace('/', '~')}", split="train", header=r.header, formal_statement=r.body,
                            source=f"conjecture:{s.id}", name=lean_name(r.id)) for r, s in alive]
        parent = {p.id: (r, s) for p, (r, s) in zip(problems, alive, strict=True)}
        with RunStore(self.dir / "attempts") as astore:
            if problems:
                astore.set_meta({"dataset": "conjectures", "samples": cs.samples, "template": family.name,
                                 "sampling": cs.prover_params.to_json()})
                astore.add_problems(problems)
                with self.make_verifier(False) as verifier:
                    settings = ProveSettings(samples=cs.samples, params=cs.prover_params, chunk=cs.samples,
                                             count_fast_gate=self.count_fast_gate)
                    pipe = Pipeline(backend, family, verifier, astore, settings)
                    self._stoppers.append(pipe.stop)
                    pipe.run(problems)
                    self._stoppers.remove(pipe.stop)
                    if pipe.stopped:
                        self.stopped = True
                        return []
            counts = astore.counts(count_fast_gate=self.count_fast_gate)
            proofs: dict[str, tuple[str, str]] = {}
            for srow, v in astore.samples(round_=0):
                if v is None or not v.counted(self.count_fast_gate):
                    continue
                p = next((q for q in problems if q.id == srow.problem_id), None)
                if p is None:
                    continue
                c = extract(family, p, srow.completion, srow.id)
                _, proof = seed_parts(c.body, p.formal_statement)
                if srow.problem_id not in proofs or len(proof) < len(proofs[srow.problem_id][1]):
                    proofs[srow.problem_id] = (srow.id, proof)
        items: list[SynthItem] = []
        rates: dict[str, float] = {}
        for p in problems:
            n, c = counts.get(p.id, (0, 0))
            if n < cs.samples:
                continue
            rates[p.id] = c / n
            if in_window(c / n, cs.window) and p.id in proofs:
                r, s = parent[p.id]
                sid, proof = proofs[p.id]
                items.append(SynthItem(f"{s.id}~conj{r.idx}", "conjecture", s.id, r.header, r.body, proof, provenance={
                    "conjecture": r.id, "pass_rate": c / n, "samples": n, "proved": c, "proof_sample": sid,
                    "window": list(cs.window), "lemma": cs.lemma}))
        self.conjecture_report = {"generated": generated, "stages": stage_counts, "attempted": len(problems),
                                  "decontaminated": self._conjecture_contaminated,
                                  "measured": len(rates), "in_window": len(items), "window": list(cs.window),
                                  "samples": cs.samples, "pass_rates": rates}
        return items
