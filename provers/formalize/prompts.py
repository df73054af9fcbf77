"""Formalizer prompts (one jinja2 file per family under ``provers/templates/formalize/``), the judge and
back-translation prompts, and reading a statement or a vote out of an answer. Pure apart from reading
the template files.

Where each prompt format comes from (and what could not be confirmed) is written at the top of its
template file and in ``Formalizer.source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bridge.verify.candidate import split_header
from bridge.verify.lean_text import declarations, mask, top_level_assign
from provers.backends.base import Prompt, SamplingParams
from provers.templates import by_model

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "formalize"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                          undefined=jinja2.StrictUndefined, autoescape=False)

DEFAULT_HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"
_FENCE = re.compile(r"```[ \t]*(?:lean4?|Lean4?)[ \t]*\n(.*?)(?:\n?```|\Z)", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S)
_VOTE = re.compile(r"\b(YES|NO)\b", re.I)
_SORRY = re.compile(r"(?<![\w.'])(sorry|admit)(?![\w'])")


@dataclass(frozen=True)
class Formalizer:
    """A formalizer family: its prompt file, how its answer holds the statement, its sampling defaults."""

    name: str
    file: str
    mode: str  # "chat" | "completion"
    model_patterns: tuple[str, ...]
    extraction: str  # "last_block": the last lean4 block; "continue": the completion continues `theorem NAME`
    sampling: SamplingParams
    source: str  # where the prompt and the sampling come from


FORMALIZERS = {
    "kimina-autoformalizer": Formalizer(
        "kimina-autoformalizer", "kimina_autoformalizer.jinja", "chat", ("kimina",), "last_block",
        SamplingParams(temperature=0.6, top_p=0.95, max_tokens=2048),
        "AI-MO/Kimina-Autoformalizer-7B model card example, as reproduced verbatim by public harnesses and in "
        "the StepFun-Formalizer paper (Fig. 6a); sampling 0.6/0.95/2048 as those harnesses quote the card "
        "(the card itself could not be read here)"),
    "goedel-formalizer-v2": Formalizer(
        "goedel-formalizer-v2", "goedel_formalizer_v2.jinja", "chat", ("goedel",), "last_block",
        SamplingParams(temperature=0.9, top_p=0.95, max_tokens=16384),
        "Goedel-LM/Goedel-Formalizer-V2 model card example code (prompt, last lean4 block, temperature 0.9, "
        "top_p 0.95, max_new_tokens 16384; its top_k 20 is not sent: the endpoint client has no top_k)"),
    "deepseek-completion": Formalizer(
        "deepseek-completion", "deepseek_completion.jinja", "completion", ("deepseek",), "continue",
        SamplingParams(temperature=1.0, top_p=0.95, max_tokens=1024),
        "bridge's own completion prompt in the shape of DeepSeek-Prover-V1.5's (no DeepSeek project "
        "publishes its autoformalization prompt)"),
}
DEFAULT_FORMALIZER = "goedel-formalizer-v2"  # a chat prompt: what an unknown instruction model can follow


def formalizer_for(model: str, template: str | None = None) -> Formalizer:
    return by_model(FORMALIZERS, model, template, DEFAULT_FORMALIZER, "formalizer template")


def _blocks(file: str, ctx: dict[str, Any]) -> dict[str, str]:
    tmpl = _ENV.get_template(file)
    return {name: "".join(fn(tmpl.new_context(ctx))) for name, fn in tmpl.blocks.items()}


def render(file: str, **ctx: Any) -> Prompt:
    """A template's ``prompt`` block (completion text), or its ``system``/``user`` blocks (chat)."""
    blocks = _blocks(file, ctx)
    if "prompt" in blocks:
        return blocks["prompt"]
    msgs = []
    if blocks.get("system", "").strip():
        msgs.append({"role": "system", "content": blocks["system"].strip("\n")})
    msgs.append({"role": "user", "content": blocks["user"].strip("\n")})
    return msgs


def informal_text(informal: str, answer: str = "") -> str:
    """The problem as the formalizer reads it; a known answer is appended (Kimina-Prover's practice)."""
    text = re.sub(r"^/--?\s*|\s*-/\s*$", "", informal.strip()).strip()
    if answer.strip():
        text = f"{text} The answer is {answer.strip()}."
    return text


def formalization_prompt(f: Formalizer, informal: str, theorem_name: str, header: str) -> Prompt:
    return render(f.file, informal=informal, theorem_name=theorem_name, header=header)


def backtranslation_prompt(statement: str, header: str) -> Prompt:
    return render("backtranslate.jinja", formal_statement=statement.rstrip(), header=header)


def judge_prompt(informal: str, statement: str, back_translation: str) -> Prompt:
    return render("judge.jinja", informal=informal, formal_statement=statement.rstrip(),
                  back_translation=strip_thinking(back_translation).strip())


def conjecture_prompt(lemma: str, easy_theorem: str) -> Prompt:
    return render("stp_conjecture.jinja", lemma=lemma.strip(), easy_theorem=easy_theorem.strip())


# -- reading answers (pure) -------------------------------------------------------------------------


def strip_thinking(text: str) -> str:
    """The answer without its ``<think>`` block (an unclosed one keeps only what follows ``</think>``)."""
    text = _THINK.sub("", text)
    return text.split("</think>", 1)[1] if "</think>" in text else text


def parse_vote(answer: str) -> bool | None:
    """A judge's vote: its last YES or NO (after any thinking); None when it gives neither."""
    hits = _VOTE.findall(strip_thinking(answer))
    return None if not hits else hits[-1].upper() == "YES"


@dataclass(frozen=True)
class Extracted:
    """What an answer yields: the statement (ending in ``:= by``), or why there is none."""

    statement: str | None
    reason: str
    other_declarations: tuple[str, ...] = ()  # defs or lemmas the block declares besides the theorem
    had_proof: bool = False  # the model wrote something other than `sorry` after `:=` (dropped)


def _opens(header: str) -> list[str]:
    out: list[str] = []
    for line in mask(header).splitlines():
        m = re.match(r"^\s*open\s+(.*?)\s*$", line)
        if m and not re.search(r"\bin\s*$", line):
            out += [n for n in m.group(1).split() if n not in ("scoped",)]
    return out


def statement_from_code(code: str, run_header: str) -> Extracted:
    """The one theorem statement of a Lean block: the model's own header is dropped (the run's header is
    used), except namespaces it opens that the run's header does not, which stay as ``open ... in``."""
    own, rest = split_header(code)
    decls = declarations(rest)
    theorems = [d for d in decls if d.group("kind") in ("theorem", "lemma")]
    if not theorems:
        return Extracted(None, "the answer's Lean code declares no theorem")
    target = theorems[-1]
    others = tuple(f"{d.group('kind')} {d.group('name') or ''}".strip() for d in decls if d is not target)
    start = target.start()
    # a doc comment or an `open ... in` right above the theorem belongs to it
    head = rest[:start]
    keep = re.search(r"(?s)((?:[ \t]*open\s+[^\n]*\bin[ \t]*\n)*)\Z", head)
    prefix = keep.group(1) if keep else ""
    assign = top_level_assign(rest, target.end())
    if assign < 0:
        return Extracted(None, "the theorem has no `:=`", others)
    had_proof = " ".join(mask(rest[assign + 2:]).split()) not in ("", "by", "sorry", "by sorry")
    extra = [n for n in _opens(own) if n not in _opens(run_header)]
    opens = f"open {' '.join(dict.fromkeys(extra))} in\n" if extra else ""
    statement = opens + prefix + rest[start:assign].rstrip() + " := by"
    return Extracted(statement, "one theorem statement", others, had_proof)


def extract_statement(f: Formalizer, answer: str, theorem_name: str, run_header: str) -> Extracted:
    """The candidate statement of one formalizer answer."""
    text = strip_thinking(answer)
    if f.extraction == "continue":
        cut = text.find("```")
        code = f"theorem {theorem_name}" + (text[:cut] if cut >= 0 else text)
        return statement_from_code(code, run_header)
    blocks = [m.group(1) for m in _FENCE.finditer(text)]
    if not blocks:
        if declarations(text):
            return statement_from_code(text, run_header)
        return Extracted(None, "no lean4 code block in the answer")
    return statement_from_code(blocks[-1], run_header)


def has_sorry(statement: str) -> bool:
    return _SORRY.search(mask(statement)) is not None


def conjecture_statement(completion: str) -> str | None:
    """STP's reading of a conjecturer completion: ``theorem`` + the text up to ``</hard theorem>``, cut at
    its first ``:=``, ending in ``:= by``."""
    text = completion.split("</hard theorem>")[0].split("```")[0].strip()
    if not text:
        return None
    statement = "theorem " + text
    if ":=" in statement:
        statement = statement.split(":=")[0]
    return statement.rstrip() + " := by"
