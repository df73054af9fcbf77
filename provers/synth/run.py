"""One ``bridge synth`` run (I/O): propose, screen, verify, choose."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.data.decontam import NGRAM
from bridge.data.problem import Problem
from bridge.errors import SetupError
from bridge.runs.store import RunStore
from bridge.verify.verdict import Verdict
from provers.backends.base import Backend
from provers.synth.common import MAX_PER_SEED, VERDICTS_SCHEMA, Seed, Skip, SynthItem
from provers.synth.conjecture import ConjectureSettings, ConjectureSteps
from provers.synth.have_lift import have_lift
from provers.synth.mutate import mutate
from provers.synth.screen import choose, screen_items

# -- the run (I/O) ---------------------------------------------------------------------------------------


def strict_status(mode: str, cfg: Any, checker: Any | None = None) -> tuple[bool, str | None]:
    """(use the kernel re-check, why not): ``require`` fails without the checker, ``auto`` uses it when
    it is there, ``off`` never."""
    if mode == "off":
        return False, "turned off (--no-strict)"
    if checker is None:
        from bridge.lean.project import repl_launch
        from bridge.verify.strict import StrictChecker

        checker = StrictChecker(cfg, repl_launch(cfg))
    ok_, why = checker.available()
    if not ok_ and mode == "require":
        raise SetupError(f"--strict was asked for, but the kernel checker is unavailable: {why}",
                         "run `bridge setup` (it builds bridge-check), or drop --strict")
    return ok_, None if ok_ else f"the kernel checker is unavailable: {why}"


class Synth(ConjectureSteps):
    """One ``bridge synth`` run: propose, screen, verify, choose. ``make_verifier(strict)`` gives a
    verifier (a context manager); every verdict is stored, so a rerun verifies only what is missing."""

    def __init__(self, run_dir: Path, store: RunStore, methods: tuple[str, ...], make_verifier: Callable[[bool], Any],
                 against: dict[str, list[Problem]], ngram: int = NGRAM, strict: tuple[bool, str | None] = (False, None),
                 count_fast_gate: bool = False, conjecture: ConjectureSettings | None = None,
                 conjecturer: Backend | None = None, prover: tuple[Backend, Any] | None = None,
                 log: Callable[[str], None] | None = None, max_per_seed: int = MAX_PER_SEED):
        self.dir = Path(run_dir)
        self.store = store
        with store.lock:
            store.db.executescript(VERDICTS_SCHEMA)
        self.methods = methods
        self.make_verifier = make_verifier
        self.against = against
        self.ngram = ngram
        self.max_per_seed = max_per_seed
        self.strict = strict
        self.count_fast_gate = count_fast_gate
        self.cs = conjecture or ConjectureSettings()
        self.conjecturer = conjecturer
        self.prover = prover
        self.log = log or (lambda m: None)
        self.stopped = False
        self._stoppers: list[Callable[[], None]] = []
        self.skips: list[Skip] = []
        self.conjecture_report: dict[str, Any] = {}
        self._conjecture_contaminated: list[dict[str, Any]] = []

    def stop(self) -> None:
        self.stopped = True
        for s in list(self._stoppers):
            s()

    # -- stored verdicts ----------------------------------------------------------------------------

    def verdicts(self) -> dict[str, Verdict]:
        rows = self.store.db.execute("SELECT item_id, data FROM synth_verdicts").fetchall()
        return {i: Verdict.from_json(json.loads(d)) for i, d in rows}

    def _add_verdict(self, item_id: str, v: Verdict) -> None:
        with self.store.lock:
            self.store.db.execute("INSERT OR IGNORE INTO synth_verdicts VALUES (?, ?, ?, ?)",
                                  (item_id, v.verdict, json.dumps(v.to_json(), ensure_ascii=False), time.time()))

    # -- the steps ----------------------------------------------------------------------------------

    def propose(self, seeds: list[Seed]) -> list[SynthItem]:
        items: list[SynthItem] = []
        for method in self.methods:
            if method == "conjecture":
                items += self.conjectures(seeds)
                continue
            fn = have_lift if method == "have-lift" else mutate
            for s in seeds:
                got, skips = fn(s)
                items += got
                self.skips += skips
        return items

    def run(self, seeds: list[Seed]) -> dict[str, Any]:
        """Everything up to the kept items; returns what the report and the output need."""
        items = self.propose(seeds)
        if self.stopped:
            return {}
        screened, dropped = screen_items(items, seeds, self.against, self.ngram)
        done = self.verdicts()
        todo = [it for it in screened if it.id not in done]
        if todo:
            self.log(f"verifying {len(todo)} synthetic item(s)" + (" (strict)" if self.strict[0] else ""))
            with self.make_verifier(self.strict[0]) as verifier:
                self._stoppers.append(verifier.stop)
                for v in verifier.verify([it.candidate() for it in todo]):
                    if v.rule == "setup":
                        raise SetupError(f"a seed's header does not elaborate: {v.reason}",
                                         "check the Lean project (bridge doctor)")
                    self._add_verdict(v.id, v)
                self._stoppers.remove(verifier.stop)
                if verifier.stopped:
                    self.stopped = True
        verdicts = self.verdicts()
        kept, why = choose(screened, verdicts, self.count_fast_gate, self.max_per_seed)
        return {"items": items, "screened": screened, "dropped": dropped, "verdicts": verdicts, "kept": kept,
                "why": why}
