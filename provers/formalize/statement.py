"""Pure reading of one Lean theorem statement: its binders, its conclusion, the top-level form of a
proposition. Text in, dataclasses out; comments and strings are masked first (``lean_text.mask``), so
positions found in the masked text point into the original.

These readings are approximations of Lean's parser, used only to *build* candidates (the funnel's
tactic-budget theorems, a lifted ``have``, a mutated statement). Nothing built from them is trusted:
every one is checked by the verifier, and a misreading only costs a candidate that fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.verify.lean_text import DECL_RE, mask, top_level_assign

OPEN = "([{⦃⟨"
CLOSE = ")]}⦄⟩"
_IDENT_TOKEN = re.compile(r"[^\W\d][\w'₀-₉!?]*(?:\.[^\W\d][\w'₀-₉!?]*)*")
_OPEN_IN = re.compile(r"(?m)^[ \t]*open\s+[^\n]*?\bin[ \t]*$")
_BINDER_KEYWORDS = ("∀", "∃", "fun", "λ", "Σ", "∑", "∏", "⋃", "⋂", "if", "let", "have", "show", "match")


@dataclass(frozen=True)
class Binder:
    """One bracketed binder group of a signature: ``(a b : ℕ)``, ``{α : Type*}``, ``[Fintype α]``."""

    text: str
    bracket: str  # the opening bracket
    names: tuple[str, ...]  # empty for an anonymous instance binder
    type: str

    @property
    def is_hypothesis_like(self) -> bool:
        """Whether the type reads as a proposition (a relation or a connective at its top)."""
        return self.bracket == "(" and bool(self.names) and top_form(self.type) is not None


@dataclass(frozen=True)
class Statement:
    """``[open ... in] theorem NAME BINDERS : CONCLUSION :=``, read from text."""

    text: str
    kind: str
    name: str
    opens: str  # the ``open A B in`` lines before the declaration, each ending in a newline
    binders: tuple[Binder, ...]
    conclusion: str

    @property
    def binder_text(self) -> str:
        return " ".join(b.text for b in self.binders)

    def signature_with(self, name: str, binders: str, conclusion: str) -> str:
        """The same ``open ... in`` prefix with another name, binders and conclusion, ending in ``:= by``."""
        sep = " " if binders else ""
        return f"{self.opens}theorem {name}{sep}{binders} :\n    {conclusion} := by\n"


def _match(text: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` in masked ``text``, or -1."""
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _top_colon(masked: str, start: int = 0) -> int:
    """First ``:`` at bracket depth 0 that is not part of ``:=`` (nor ``::``), or -1."""
    depth = 0
    for i in range(start, len(masked)):
        c = masked[i]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0 and masked[i + 1:i + 2] not in ("=", ":") and masked[i - 1:i] != ":":
            return i
    return -1


def balanced(text: str) -> bool:
    """Whether the brackets of ``text`` (comments and strings masked) pair up."""
    stack: list[str] = []
    for c in mask(text):
        if c in OPEN:
            stack.append(CLOSE[OPEN.index(c)])
        elif c in CLOSE:
            if not stack or stack.pop() != c:
                return False
    return not stack


def strip_comments(text: str) -> str:
    """``text`` without its comments, on one line: a reading joined into one line must not let a ``--``
    comment swallow what followed it. Strings are kept as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
        elif text.startswith("/-", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/-", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("-/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return " ".join("".join(out).split())


def parse_binder(text: str) -> Binder:
    text = strip_comments(text)
    inner = text[1:-1]
    colon = _top_colon(mask(inner))
    if colon < 0:
        return Binder(text, text[0], (), inner.strip())
    names = tuple(n for n in inner[:colon].split() if n)
    return Binder(text, text[0], names, inner[colon + 1:].strip())


def parse_statement(text: str) -> Statement | None:
    """The parts of a ``theorem``/``lemma`` statement, or None when they cannot be read."""
    masked = mask(text)
    m = DECL_RE.search(masked)
    if m is None or m.group("kind") not in ("theorem", "lemma") or not m.group("name"):
        return None
    opens = "".join(x.group(0).strip() + "\n" for x in _OPEN_IN.finditer(masked[: m.start()]))
    assign = top_level_assign(text, m.end())
    if assign < 0:
        return None
    i = m.end()
    binders: list[Binder] = []
    while True:
        while i < assign and masked[i].isspace():
            i += 1
        if i < assign and masked[i] in "([{⦃":
            j = _match(masked, i)
            if j < 0 or j > assign:
                return None
            binders.append(parse_binder(text[i:j + 1]))
            i = j + 1
            continue
        break
    if i >= assign or masked[i] != ":":
        return None
    conclusion = strip_comments(text[i + 1:assign])
    if not conclusion:
        return None
    return Statement(text=text, kind=m.group("kind"), name=m.group("name"), opens=opens, binders=tuple(binders),
                     conclusion=conclusion)


# -- the top-level form of a proposition -------------------------------------------------------------

# weakest first: where two occur at depth 0, the weaker one is the top of the term (Lean's precedences:
# ↔ 20, → 25, ∨ 30, ∧ 35, ¬ 40 (prefix), relations 50)
_CONNECTIVES = (("↔", "<->"), ("→", "->"), ("∨", "\\/"), ("∧", "/\\"))
_RELATIONS = ("≤", "<=", "≥", ">=", "≠", "!=", "∣", "∈", "∉", "⊆", "⊂", "=", "<", ">")
_CANON = {"<->": "↔", "->": "→", "\\/": "∨", "/\\": "∧", "<=": "≤", ">=": "≥", "!=": "≠"}
_NOT_OPS = ("=>", ":=", "<;>", "<|", "|>", "<$>", "==", "<|>", "←", "<-")


@dataclass(frozen=True)
class TopForm:
    """``lhs op rhs``: the operator at the top of a proposition (canonical spelling)."""

    op: str
    lhs: str
    rhs: str


def _ops_at_depth0(masked: str) -> list[tuple[int, str]]:
    """(index, operator as written) of every connective or relation at bracket depth 0."""
    out: list[tuple[int, str]] = []
    depth = 0
    i = 0
    table = sorted({*(o for pair in _CONNECTIVES for o in pair), *_RELATIONS, *_NOT_OPS}, key=len, reverse=True)
    while i < len(masked):
        c = masked[i]
        if c in OPEN:
            depth += 1
            i += 1
            continue
        if c in CLOSE:
            depth = max(0, depth - 1)
            i += 1
            continue
        if depth == 0:
            hit = next((o for o in table if masked.startswith(o, i)), None)
            if hit is not None:
                if hit not in _NOT_OPS:
                    out.append((i, hit))
                i += len(hit)
                continue
        i += 1
    return out


def _starts_with_binder(text: str) -> bool:
    s = text.lstrip()
    return any(s.startswith(k) and (len(k) == 1 or not s[len(k):len(k) + 1].isalnum()) for k in _BINDER_KEYWORDS)


def top_form(prop: str) -> TopForm | None:
    """The top-level binary form of ``prop``, or None (a quantifier, a negation, an application, two
    relations side by side: anything this reading is not sure of)."""
    text = " ".join(prop.split())
    while text.startswith("(") and _match(mask(text), 0) == len(text) - 1:
        text = text[1:-1].strip()  # (A = B) is A = B
    if not text or _starts_with_binder(text):
        return None
    masked = mask(text)
    ops = _ops_at_depth0(masked)
    if not ops:
        return None
    for group in _CONNECTIVES:
        hits = [(i, o) for i, o in ops if o in group]
        if hits:
            i, o = hits[0]  # right-associative: A ∧ B ∧ C is A ∧ (B ∧ C)
            lhs, rhs = text[:i].strip(), text[i + len(o):].strip()
            if not lhs or not rhs:
                return None
            return TopForm(_CANON.get(o, o), lhs, rhs)
    if text.startswith("¬"):
        return None  # ¬ A = B is ¬ (A = B)
    rels = [(i, o) for i, o in ops if o in _RELATIONS]
    if len(rels) != 1:
        return None  # `a < b < c` and friends: not one relation
    i, o = rels[0]
    lhs, rhs = text[:i].strip(), text[i + len(o):].strip()
    if not lhs or not rhs:
        return None
    return TopForm(_CANON.get(o, o), lhs, rhs)


_PRECEDENCE = {"↔": 20, "→": 25, "∨": 30, "∧": 35}


def precedence(op: str) -> int:
    return _PRECEDENCE.get(_CANON.get(op, op), 50)


def operand(text: str, op: str = "=") -> str:
    """``text`` as an operand of a new ``op``: parenthesised when it would otherwise bind looser than
    ``op`` (a quantifier, a weaker or equal connective, a negation under a relation)."""
    t = text.strip()
    p = precedence(op)
    if (_starts_with_binder(t) or (t.startswith("¬") and p >= 40)
            or any(precedence(o) <= p for _, o in _ops_at_depth0(mask(t)))):
        return f"({t})"
    return t


# -- identifiers ---------------------------------------------------------------------------------------


def identifiers(text: str) -> set[str]:
    """Every identifier of ``text`` (comments and strings masked), and the first part of each dotted one
    (``h.1``, ``hx.le`` use ``h`` and ``hx``)."""
    out: set[str] = set()
    for tok in _IDENT_TOKEN.findall(mask(text)):
        out.add(tok)
        out.add(tok.split(".")[0])
    return out


def lean_name(text: str) -> str:
    """A Lean identifier made of ``text`` (an id of a problem or of a candidate)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_") or "t"
    return name if not name[0].isdigit() else f"t_{name}"
