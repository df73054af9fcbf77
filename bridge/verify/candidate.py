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

DEFAULT_HEADER = "import Mathlib"

_HEADER_LINE = re.compile(r"^\s*(import|open|set_option|universe)\b")


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


def from_code(id: str, header: str | None, code: str) -> Candidate:
    """``{"id", "header", "code"}``: the code is checked unchanged; its last theorem is the target, and
    every theorem it declares is gated.

    Code that starts with its own header lines (``import``, ``open``, ``set_option``: a whole file as a
    prover wrote it) gets them as its header when none is given, or loses them when they only repeat
    the given header. The text before the target's declaration counts as helpers, the rest as proof.
    """
    own, rest = split_header(code)
    if own.strip() and re.search(r"(?m)^\s*import\b", mask(own)):
        if header is None:
            header, code = own, rest
        elif _same_lines(own, header):
            code = rest
    header = DEFAULT_HEADER if header is None else header
    target = None
    names: list[str] = []
    for m in declarations(code):
        if m.group("kind") in ("theorem", "lemma"):
            target = m
            if m.group("name") and m.group("name") not in names:
                names.append(m.group("name"))
    if target is None:
        return Candidate(id=str(id), header=header, proof=code)
    start = target.start()
    return Candidate(id=str(id), header=header, helpers=code[:start], proof=code[start:],
                     name=target.group("name"), kind=target.group("kind"), theorems=tuple(names))


def per_theorem_candidate(file_id: str, header: str, body: str, name: str) -> Candidate:
    """One theorem of a ``.lean`` file (``verify --per-theorem``): the whole file is checked as it is, and
    only that theorem's lines (its messages, its sorries) and its axioms decide its verdict."""
    decls = declarations(body)
    m = next(d for d in decls if d.group("name") == name and d.group("kind") in ("theorem", "lemma"))
    later = [d.start() for d in decls if d.start() > m.start()]
    end = later[0] if later else len(body)
    first = body.count("\n", 0, m.start()) + 1
    last = body.count("\n", 0, max(m.start(), end - 1)) + 1
    return Candidate(id=f"{file_id}:{name}", header=header, helpers=body[: m.start()], proof=body[m.start():],
                     name=name, kind=m.group("kind"), theorems=(name,), span=(first, last))


def _same_lines(a: str, b: str) -> bool:
    """Whether the non-blank lines of ``a`` all occur in ``b`` (whitespace normalised)."""
    norm = {" ".join(ln.split()) for ln in b.splitlines() if ln.strip()}
    return all(" ".join(ln.split()) in norm for ln in a.splitlines() if ln.strip())


def split_header(text: str) -> tuple[str, str]:
    """A ``.lean`` file's header (leading imports, options, opens, comments) and the rest."""
    lines = text.splitlines(keepends=True)
    masked = mask(text).splitlines(keepends=True)
    cut = 0
    for i, m in enumerate(masked):
        if not m.strip() or _HEADER_LINE.match(m):
            cut = i + 1
            continue
        break
    # `open Foo in` qualifies the next declaration: it is part of the body, not the header
    while cut > 0 and re.search(r"\bin\s*$", masked[cut - 1]):
        cut -= 1
    return "".join(lines[:cut]), "".join(lines[cut:])


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
    return Candidate(id=str(id), header=DEFAULT_HEADER if header is None else header,
                     helpers=_strip_imports(model_code[: m.start()]), statement=sig, proof=tail,
                     name=name, kind=kind)


def _strip_leading_by(statement: str, proof: str) -> str:
    # the statement ends in `by`: a proof that repeats `by` would be `by by`
    if statement.rstrip().endswith("by") and proof.lstrip().startswith("by"):
        return proof.lstrip()[2:]
    return proof


def _strip_imports(helpers: str) -> str:
    """Models repeat the header (imports, opens, options) before the theorem: the header is ours."""
    _, rest = split_header(helpers)
    return rest


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
