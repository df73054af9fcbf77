"""Disguised copies of a Lean statement, for the decontamination tests and its calibration
(``benchmarks/bench_decontam.py``): each keeps the mathematics and changes only what a copier would."""

from __future__ import annotations

import re
from collections.abc import Callable

from bridge.verify.lexer import tokenize
from provers.formalize.statement import parse_statement


def _rename(text: str, old: str, new: str) -> str:
    """Every identifier ``old`` (or ``old.field``) renamed, as Lean's lexer reads the text."""
    out, at = [], 0
    for t in tokenize(text, keep_comments=True):
        if t.kind == "ident" and t.text.split(".", 1)[0] == old:
            out += [text[at:t.start], new + t.text[len(old):]]
            at = t.end
    return "".join(out) + text[at:]


def _names(statement: str, hypotheses: bool) -> list[str]:
    st = parse_statement(statement)
    if st is None:
        return []
    return [n for b in st.binders for n in b.names
            if re.fullmatch(r"[^\W\d][\w'₀-₉]*", n) and b.is_hypothesis_like == hypotheses]


def rename_theorem(s: str) -> str:
    st = parse_statement(s)
    return s.replace(st.name, "copied_problem_1", 1) if st else s


def rename_variables(s: str) -> str:
    for i, n in enumerate(_names(s, hypotheses=False)):
        s = _rename(s, n, f"vv{i}")
    return s


def rename_hypotheses(s: str) -> str:
    for i, n in enumerate(_names(s, hypotheses=True)):
        s = _rename(s, n, f"hyp_{i}")
    return s


def reflow(s: str) -> str:
    """Spaces doubled and lines broken between binders (the closing ``:= by`` kept as it is)."""
    cut = s.rfind(":=")
    head, tail = (s[:cut], s[cut:]) if cut >= 0 else (s, "")
    return re.sub(r" +", "  ", head).replace(") (", ")\n    (").replace(" : ", "   :\n      ", 1) + tail


def add_comment(s: str) -> str:
    st = parse_statement(s)
    if st is None or not st.binders:
        return s.replace(":=", "/- copied -/ :=", 1)
    first = st.binders[0].text
    i = s.find(first[: max(1, len(first) // 2)])
    if i < 0:
        return s.replace(":=", "/- copied -/ :=", 1)
    j = s.find(")", i) + 1 if first.startswith("(") else i
    return s[:j] + " -- from a competition\n  /- a note -/ " + s[j:]


def swap_hypotheses(s: str) -> str:
    """The first two hypothesis binders exchanged (unchanged when there are fewer than two)."""
    st = parse_statement(s)
    if st is None:
        return s
    hyps = [b for b in st.binders if b.is_hypothesis_like]
    if len(hyps) < 2:
        return s
    a, b = hyps[0].text, hyps[1].text
    if a not in s or b not in s:
        return s
    return s.replace(a, "\0A", 1).replace(b, a, 1).replace("\0A", b, 1)


DISGUISES: dict[str, Callable[[str], str]] = {
    "renamed theorem": rename_theorem,
    "renamed variables": rename_variables,
    "renamed hypotheses": rename_hypotheses,
    "reflowed": reflow,
    "a comment": add_comment,
    "two hypotheses swapped": swap_hypotheses,
}


def all_together(s: str) -> str:
    for f in (swap_hypotheses, rename_hypotheses, rename_variables, rename_theorem, add_comment, reflow):
        s = f(s)
    return s


def disguises(statement: str) -> dict[str, str]:
    """Every disguise alone, and all together; a disguise that changes nothing is left out."""
    out = {name: f(statement) for name, f in DISGUISES.items()}
    out["all together"] = all_together(statement)
    return {k: v for k, v in out.items() if v != statement}
