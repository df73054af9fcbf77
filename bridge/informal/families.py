"""Solver prompt families (one jinja2 file each in ``templates/``), rendered as completion text.

Prompts are plain text with the family's chat markup written out (as the Qwen2.5-Math harness does), so
any backend takes them (an endpoint's ``/completions``, transformers, vLLM) and a TIR turn is continued
by appending to the text: the model's code, the ```output block, the model again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from bridge.errors import ConfigError
from bridge.models import by_model

HERE = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), keep_trailing_newline=True,
                          undefined=jinja2.StrictUndefined, autoescape=False)
MODES = ("cot", "tir")


@dataclass(frozen=True)
class SolverFamily:
    name: str
    file: str
    model_patterns: tuple[str, ...]


FAMILIES = {
    "numina": SolverFamily("numina", "numina.jinja", ("numinamath", "numina")),
    "qwen25-math": SolverFamily("qwen25-math", "qwen25_math.jinja", ("qwen",)),
}
DEFAULT_FAMILY = "qwen25-math"


def family_for(model: str, template: str | None = None) -> SolverFamily:
    return by_model(FAMILIES, model, template, DEFAULT_FAMILY, "solver template")


def render(fam: SolverFamily, mode: str, problem: str) -> str:
    """The prompt text that asks for one solution of ``problem`` in ``mode`` (cot or tir)."""
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}", "choose cot or tir")
    tmpl = _ENV.get_template(fam.file)
    return "".join(tmpl.blocks[mode](tmpl.new_context({"problem": problem.strip()})))
