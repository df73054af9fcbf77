"""A candidate and how it is assembled: header + reference statement + the model's proof.

A model never decides what is proved: when it restates the theorem (chat-template provers do), its
statement is cut off and the dataset's reference statement put back; lemmas it wrote before the
theorem are kept as helpers, and the static screen checks them more strictly than the proof.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bridge.verify.lean_text import declarations, find_declaration, mask, statement_name, top_level_assign
from bridge.verify.lexer import LexError, header_command, header_lines

DEFAULT_HEADER = "import Mathlib"

_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")
# more names of the `open` line above it: indented, and code first (lexer.header_lines joins it the same way)
_CONTINUATION = re.compile(r"[ \t]+(?![ \t]|--|/-|\n|\r)")


@dataclass
class Candidate:
    """What is checked: ``header`` elaborated once, then ``body`` = helpers + statement + proof.

    ``statement`` is the reference statement when the candidate came from a dataset problem (then the
    soundness gate compares the proved type to it); empty for free-form code.
    """

    id: str
    header: str
    helpers: str = ""
    statement: str = ""
    proof: str = ""
    name: str | None = None  # the declaration the candidate must prove
    kind: str | None = None  # "theorem" (or "lemma") or "def"
    meta: dict[str, Any] = field(default_factory=dict)
    theorems: tuple[str, ...] = ()  # free-form code: every theorem it declares is gated, not only the last
    span: tuple[int, int] | None = None  # one theorem of a file: only messages on these body lines count
    # The header lines the model wrote (a file's or a `code` row's leading imports/opens/options, a chat
    # answer's): the screen holds them to the header allow-list (screen.screen_header) in every input
    # form, whether they end up in ``header`` (free-form code) or are dropped (a reference statement).
    model_header: str = ""

    @property
    def body(self) -> str:
        return self.helpers + self.statement + self.proof

    def gated(self) -> list[str]:
        """The declarations whose axioms decide the verdict: the target first."""
        if not self.name:
            return []
        return [self.name, *[t for t in self.theorems if t != self.name]]

    def regions(self) -> list[tuple[str, int, str]]:
        """(region, offset in body, text): "helpers" before the target, "proof" after it."""
        out = []
        if self.helpers:
            out.append(("helpers", 0, self.helpers))
        if self.proof:
            out.append(("proof", len(self.helpers) + len(self.statement), self.proof))
        return out


def from_parts(id: str, header: str | None, formal_statement: str, proof: str, helpers: str = "") -> Candidate:
    """``{"id", "header", "formal_statement", "proof"}``: the proof continues the statement verbatim."""
    kind, name = statement_name(formal_statement)
    return Candidate(id=str(id), header=DEFAULT_HEADER if header is None else header, helpers=helpers,
                     statement=formal_statement, proof=proof, name=name, kind=kind)


def from_code(id: str, header: str | None, code: str, default_header: str = DEFAULT_HEADER) -> Candidate:
    """``{"id", "header", "code"}``, a ``.lean`` file, stdin: the code is checked unchanged; its last
    theorem is the target, and every theorem it declares is gated.

    The code's own leading header lines (``import``, ``open``, ``set_option``, ``universe``: a whole
    file as a prover wrote it) are model text: they are kept in ``model_header`` for the screen's header
    allow-list, and become the header (after ``import Mathlib`` when they import nothing) when none is
    given, or are merged into the given header (what they repeat is dropped). The text before the
    target's declaration counts as helpers, the rest as proof.
    """
    own, code = split_header(code)
    header = merge_header(header, own, default_header)
    target = None
    names: list[str] = []
    for m in declarations(code):
        if m.group("kind") in ("theorem", "lemma"):
            target = m
            if m.group("name") and m.group("name") not in names:
                names.append(m.group("name"))
    if target is None:
        return Candidate(id=str(id), header=header, proof=code, model_header=own)
    start = target.start()
    return Candidate(id=str(id), header=header, helpers=code[:start], proof=code[start:],
                     name=target.group("name"), kind=target.group("kind"), theorems=tuple(names),
                     model_header=own)


def merge_header(given: str | None, own: str, default: str = DEFAULT_HEADER) -> str:
    """The header of free-form code: ``given`` (or ``default``) with the lines of the model's own
    header ``own`` that it does not already hold (imports first, as Lean requires). Only sound together
    with the screen's header allow-list over ``own`` (one complete command per line, so lines can be
    moved one by one); a candidate with a reference statement never gets the model's lines (they could
    change how the statement reads), see ``with_reference_statement``."""
    # The model's commands rebuilt from the lexer's tokens of its lines: the very tokens the screen's
    # header allow-list judged (lexer.code_lines), comments dropped, so Lean is sent exactly what the
    # screen passed. Another reading of the text could differ (mask ignores «», so the quote inside
    # `«u"»` opens a string there and a line Lean reads as code would be moved as a comment). Text
    # the lexer refuses adds nothing: the screen refuses that candidate.
    try:
        lines = header_lines(own)
        cmds = [header_command(line) for line in lines]
        plain = [" ".join(t.text for t in line) for line in lines]  # what a given header's line reads as
    except LexError:
        cmds, plain = [], []
    if given is None and any(c.startswith("import ") for c in cmds):
        base = ""  # a whole file: its own imports are the header
    else:
        base = default if given is None else given
    have = {" ".join(ln.split()) for ln in _lines(mask(base))}
    new = [ln for ln, p in zip(cmds, plain, strict=True) if ln and ln not in have and p not in have]
    if not new:
        return base
    imports = [ln for ln in new if ln.startswith("import ")]
    others = [ln for ln in new if not ln.startswith("import ")]
    sep = "" if not base or base.endswith("\n") else "\n"
    return "".join(f"{ln}\n" for ln in imports) + base + sep + "".join(f"{ln}\n" for ln in others)


def per_theorem_candidate(file_id: str, header: str, body: str, name: str, model_header: str = "") -> Candidate:
    """One theorem of a ``.lean`` file (``verify --per-theorem``): the whole file is checked as it is, and
    only that theorem's lines (its messages, its sorries) and its axioms decide its verdict."""
    decls = declarations(body)
    m = next(d for d in decls if d.group("name") == name and d.group("kind") in ("theorem", "lemma"))
    later = [d.start() for d in decls if d.start() > m.start()]
    end = later[0] if later else len(body)
    first = body.count("\n", 0, m.start()) + 1
    last = body.count("\n", 0, max(m.start(), end - 1)) + 1
    return Candidate(id=f"{file_id}:{name}", header=header, helpers=body[: m.start()], proof=body[m.start():],
                     name=name, kind=m.group("kind"), theorems=(name,), span=(first, last),
                     model_header=model_header)


def split_header(text: str) -> tuple[str, str]:
    """A ``.lean`` file's header (leading imports, options, opens, with the comments between them) and
    the rest. Comments after the last header line (a doc comment above the first theorem) belong to
    the rest. The split only decides where the header ends: both parts are screened."""
    lines, masked = _lines(text), _lines(mask(text))
    cut = 0
    opened = False  # the last header line is an `open`: an indented line after it continues its names
    for i, m in enumerate(masked):
        if _HEADER_LINE.match(m) or (cut == i and not lines[i].strip()) \
                or (cut == i and opened and _CONTINUATION.match(lines[i])):  # (blank lines right after one too)
            if m.strip():
                opened = bool(re.match(r"\s*open\b", m)) or (opened and bool(_CONTINUATION.match(lines[i])))
            cut = i + 1
            continue
        if not m.strip():
            continue
        break
    # `open Foo in` qualifies the next declaration: it is part of the body, not the header (with the
    # blank lines between them)
    while cut > 0:
        k = cut - 1
        while k >= 0 and not masked[k].strip():
            k -= 1
        if k < 0 or not re.search(r"\bin\s*$", masked[k]):
            break
        cut = k
    return "".join(lines[:cut]), "".join(lines[cut:])


def _lines(text: str) -> list[str]:
    """Lines as Lean counts them: split at "\n" only (str.splitlines also splits at U+2028, \x0c, ...,
    which a comment may hold, and the masked and unmasked texts would then split differently)."""
    return [ln for ln in re.split(r"(?<=\n)", text) if ln]


def signature(statement: str) -> str:
    """The reference statement up to and including its top-level ``:=``."""
    i = top_level_assign(statement)
    if i < 0:
        raise ValueError("the statement has no top-level `:=`")
    return statement[: i + 2]


def with_reference_statement(id: str, header: str | None, statement: str, model_code: str) -> Candidate:
    """Put the reference statement back into a model's full theorem (chat-template provers).

    The model's declaration of the reference name is replaced by the reference signature; what the
    model wrote after its ``:=`` is the proof; what it wrote before the declaration is helpers.
    Without a declaration of that name, the code is taken as the proof itself.
    """
    kind, name = statement_name(statement)
    sig = signature(statement)
    m = find_declaration(model_code, name) if name else None
    if m is None:
        # the model wrote only a proof: continue the statement with it
        return from_parts(id, header, statement, _strip_leading_by(statement, model_code))
    assign = top_level_assign(model_code, m.end())
    if assign < 0:
        return Candidate(id=str(id), header=header or DEFAULT_HEADER, helpers=model_code[: m.start()],
                         statement=sig, proof=" sorry", name=name, kind=kind,
                         meta={"note": "the model's theorem has no `:=`"})
    tail = model_code[assign + 2 :]
    # the model's header lines are screened (model_header) but never used: an `open` of its own could
    # change how the reference statement reads
    own, helpers = split_header(model_code[: m.start()])
    return Candidate(id=str(id), header=DEFAULT_HEADER if header is None else header,
                     helpers=helpers, statement=sig, proof=tail, name=name, kind=kind, model_header=own)


def _strip_leading_by(statement: str, proof: str) -> str:
    # the statement ends in `by`: a proof that repeats `by` would be `by by`
    if statement.rstrip().endswith("by") and proof.lstrip().startswith("by"):
        return proof.lstrip()[2:]
    return proof


def from_stored(id: str, header: str, statement: str, body: str) -> Candidate:
    """The candidate again from what a run stored: its header, its checked body (helpers + statement
    + proof) and the reference statement. The body's own copy of the reference statement (whole, as
    ``from_parts`` puts it, or its signature, as ``with_reference_statement`` does) splits it; a body that
    holds neither is checked as free-form code, so a stored text cannot make itself the reference."""
    for stated in (statement, *([signature(statement)] if top_level_assign(statement) >= 0 else [])):
        if stated and stated in body:
            i = body.index(stated)
            kind, name = statement_name(statement)
            return Candidate(id=str(id), header=header, helpers=body[:i], statement=stated,
                             proof=body[i + len(stated):], name=name, kind=kind)
    return from_code(id, header, body)
