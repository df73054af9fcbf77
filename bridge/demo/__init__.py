"""``bridge demo``: the whole prove -> report -> export path without Lean, a GPU or the network.

The parts are stand-ins, and everything they produce says so: ``standin_repl.py`` (a REPL that is not
Lean and decides by markers in the text) and ``prover.py`` (a scripted prover: fixed answers per
problem). The problems are six of the built-in ``demo`` set (``problems.jsonl``). ``tiny_model.py``
builds the tiny random model of ``bridge demo --tiny-model`` (one real ``iterate`` round; the ml extra).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN_REPL = HERE / "standin_repl.py"
PROBLEMS = HERE / "problems.jsonl"
SAMPLES = 4
