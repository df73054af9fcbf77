"""Verified synthetic theorems from verified proofs (``bridge synth``), three ways:

* ``have-lift``: every ``have h : T := by tac`` of a proof becomes a theorem of its own over the
  hypotheses it uses (DeepSeek-Prover-V2's subgoals), proved by its own tactic block. Two variants per
  ``have``: over the hypotheses its text names (closed under the variables their types mention), and over
  every hypothesis in scope; the first one Lean proves is kept (context tactics such as ``linarith`` use
  hypotheses they never name).
* ``mutate``: Alchemy-style rewrites of a statement with library lemmas: the conclusion or a hypothesis
  replaced by an equivalent (``rw`` forms: ``eq_comm``, ``not_le``, ...), the conclusion by a consequence or
  a hypothesis by a premise (``apply`` forms: ``le_of_lt``, ``And.left``, ``Or.inl``, ...), the proof derived
  from the original one through that lemma.
* ``conjecture``: the model proposes related statements from a solved one (STP's prompt); the prover
  samples K proofs of each; those whose pass rate lies in the window (STP: (0, 1/4]) are kept.

Every item is checked again by the gate (and by ``--strict``'s kernel replay when the checker is there),
deduplicated (against the seeds too) and decontaminated; each carries its provenance and the
``lean-formalized`` band. Pure proposal functions in the middle; seeds, model calls, Lean and the run
store at the edges.

One module per method (``have_lift``, ``mutate``, ``conjecture``) and the shared parts: ``common`` (the
records, constants, tactic text), ``screen`` (screening and choosing), ``seeds``, ``run`` (the ``Synth`` run),
``report`` and ``outputs`` (one run end to end). Everything public is importable from ``provers.synth``.
"""

from __future__ import annotations

from provers.synth.common import (
    DEFAULT_WINDOW,
    LEAN_BAND,
    MAX_PER_SEED,
    METHODS,
    STP_LEMMA,
    VERDICTS_SCHEMA,
    Seed,
    Skip,
    SynthItem,
    helper_names,
    indent_of,
    indented,
    names_used,
    tactic_lines,
)
from provers.synth.conjecture import ConjectureSettings, ConjectureSteps, in_window, parse_window
from provers.synth.have_lift import Have, LiftedHave, find_haves, have_lift, introduced_names, lift_haves
from provers.synth.mutate import CONSEQUENCES, PREMISES, REWRITES, Mutation, MutationRule, mutate, mutations
from provers.synth.outputs import FIXED, SynthOutcome, synth_into, write_outputs
from provers.synth.report import build_report, decontaminated, markdown
from provers.synth.run import Synth, strict_status
from provers.synth.screen import choose, item_row, screen_items
from provers.synth.seeds import load_seeds, seed_parts, seeds_from_file, seeds_from_run

__all__ = [
    "CONSEQUENCES", "DEFAULT_WINDOW", "FIXED", "SynthOutcome", "synth_into", "write_outputs", "LEAN_BAND", "MAX_PER_SEED", "METHODS", "PREMISES", "REWRITES", "STP_LEMMA",
    "VERDICTS_SCHEMA", "ConjectureSettings", "ConjectureSteps", "Have", "LiftedHave", "Mutation", "MutationRule",
    "Seed", "Skip", "Synth", "SynthItem", "build_report", "choose", "decontaminated", "find_haves", "have_lift",
    "helper_names", "in_window", "indent_of", "indented", "introduced_names", "item_row", "lift_haves",
    "load_seeds", "markdown", "mutate", "mutations", "names_used", "parse_window", "screen_items", "seed_parts",
    "seeds_from_file", "seeds_from_run", "strict_status", "tactic_lines",
]
