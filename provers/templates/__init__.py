"""Prompt templates (one jinja2 file per prover family) and extraction of the proof from an answer.

Whatever the family, the candidate checked is the dataset's header and statement plus the model's
proof: a model that restates the theorem gets the reference statement put back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bridge.data.problem import Problem
from bridge.models import by_model
from bridge.verify.candidate import Candidate, from_parts, with_reference_statement

HERE = Path(__file__).resolve().parent
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), keep_trailing_newline=True,
                          undefined=jinja2.StrictUndefined, autoescape=False)

Prompt = str | list[dict[str, str]]  # completion text, or chat messages

_FENCE_BLOCK = re.compile(r"```lean4?[ \t]*\n(.*?)(?:\n?```|\Z)", re.S)


@dataclass(frozen=True)
class Family:
    name: str
    file: str
    mode: str  # "completion" | "chat"
    model_patterns: tuple[str, ...]
    extraction: str  # "cut_at_fence" | "last_block" | "after_think"
    notes: str = ""


FAMILIES = {
    "deepseek-v1.5": Family("deepseek-v1.5", "deepseek_v15.jinja", "completion",
                            ("deepseek-prover-v1.5", "deepseek-prover-v1"), "cut_at_fence"),
    "goedel-v2": Family("goedel-v2", "goedel_v2.jinja", "chat",
                        ("goedel-prover-v2", "deepseek-prover-v2", "goedel-prover"), "last_block"),
    "kimina": Family("kimina", "kimina.jinja", "chat", ("kimina",), "after_think"),
}


def family_for(model: str, template: str | None = None) -> Family:
    return by_model(FAMILIES, model, template, "deepseek-v1.5")


def _vars(problem: Problem, **extra: Any) -> dict[str, Any]:
    informal = problem.informal_statement
    prefix = informal if informal.lstrip().startswith("/-") else (f"/-- {informal.strip()} -/\n" if informal.strip() else "")
    plain = re.sub(r"^/--?\s*|\s*-/\s*$", "", informal.strip())
    return {"header": problem.header, "formal_statement": problem.formal_statement, "informal_prefix": prefix,
            "informal_statement": plain, **extra}


def _block(fam: Family, name: str, ctx: dict[str, Any]) -> str:
    tmpl = _ENV.get_template(fam.file)
    return "".join(tmpl.blocks[name](tmpl.new_context(ctx))).strip("\n") if name in tmpl.blocks else ""


def render(fam: Family, problem: Problem) -> Prompt:
    ctx = _vars(problem)
    if fam.mode == "completion":
        tmpl = _ENV.get_template(fam.file)
        return "".join(tmpl.blocks["prompt"](tmpl.new_context(ctx)))
    msgs = []
    system = _block(fam, "system", ctx)
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": _block(fam, "user", ctx)})
    return msgs


def render_correction(fam: Family, problem: Problem, previous_prompt: Prompt, previous_answer: str,
                      errors: str, round_: int) -> Prompt:
    """The prompt of an error-feedback round: the failed answer and Lean's messages go back to the model."""
    ctx = _vars(problem, errors=errors, round=round_)
    if fam.mode == "completion":
        tmpl = _ENV.get_template(fam.file)
        return "".join(tmpl.blocks["correction"](tmpl.new_context(ctx)))
    assert isinstance(previous_prompt, list)
    return [*previous_prompt, {"role": "assistant", "content": previous_answer},
            {"role": "user", "content": _block(fam, "correction", ctx)}]


def lean_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _FENCE_BLOCK.finditer(text)]


def extract(fam: Family, problem: Problem, answer: str, cand_id: str) -> Candidate:
    """The candidate for one model answer: header + reference statement + the model's proof."""
    answer = answer.replace("\r\n", "\n")  # a CRLF answer: the fence regexes and Lean read LF lines
    if fam.extraction == "cut_at_fence":
        cut = answer.find("```")
        proof = answer[:cut] if cut >= 0 else answer
        return from_parts(cand_id, problem.header, problem.formal_statement, proof)
    text = answer
    if fam.extraction == "after_think" and "</think>" in text:
        text = text.split("</think>", 1)[1]
    blocks = lean_blocks(text)
    if not blocks:
        # no code block (a truncated answer): an empty proof, which Lean rejects as incomplete
        c = from_parts(cand_id, problem.header, problem.formal_statement, "")
        c.meta["note"] = "no lean4 code block in the answer"
        return c
    return with_reference_statement(cand_id, problem.header, problem.formal_statement, blocks[-1])
