"""Decontamination: flag training items whose statement matches an evaluation item.

Two statements match when their normalized forms are equal (whitespace folded, the declaration name
dropped, binder and hypothesis names renamed in order of appearance) or when they share a long n-gram
of normalized tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.data.problem import Problem
from bridge.verify.lean_text import mask

_TOKEN = re.compile(r"[^\W\d][\w'.₀-₉]*|\d+|\S")
_BINDER = re.compile(r"[(\[{⦃]\s*([^:()\[\]{}⦃⦄]+?)\s*:(?!=)")
_QUANT = re.compile(r"(?:∀|∃!?|fun|λ|Σ|∑|∏)\s+([^,:=>]+?)\s*(?:,|:|=>|↦|in\b|∈)")
_DECL = re.compile(r"^\s*(?:noncomputable\s+)?(?:theorem|lemma|def)\s+\S+")


def normalize(statement: str) -> list[str]:
    text = _DECL.sub("", mask(statement).strip(), count=1)
    text = re.sub(r":=\s*(by)?\s*$", "", text.strip())
    names: dict[str, str] = {}
    for rx in (_BINDER, _QUANT):
        for m in rx.finditer(text):
            for nm in m.group(1).split():
                nm = nm.strip("()")
                if nm and nm not in names and re.match(r"^[^\W\d][\w'₀-₉]*$", nm):
                    names[nm] = f"_v{len(names)}"
    # rename by order of first appearance in the text, so the mapping does not depend on the regexes
    order = []
    for tok in _TOKEN.findall(text):
        if tok in names and tok not in order:
            order.append(tok)
    rename = {nm: f"_v{i}" for i, nm in enumerate(order)}
    return [rename.get(t, t) for t in _TOKEN.findall(text)]


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class Contamination:
    train_id: str
    eval_id: str
    reason: str  # "normalized statement" | "shared N-gram"


def find_contamination(train: Iterable[Problem], evaluation: Iterable[Problem], n: int = 20) -> list[Contamination]:
    ev = list(evaluation)
    exact: dict[tuple[str, ...], str] = {}
    grams: dict[tuple[str, ...], str] = {}
    for e in ev:
        toks = normalize(e.formal_statement)
        exact[tuple(toks)] = e.id
        for g in ngrams(toks, n):
            grams.setdefault(g, e.id)
    out = []
    for t in train:
        toks = normalize(t.formal_statement)
        if tuple(toks) in exact:
            out.append(Contamination(t.id, exact[tuple(toks)], "normalized statement"))
            continue
        for g in ngrams(toks, n):
            if g in grams:
                out.append(Contamination(t.id, grams[g], f"shared {n}-gram"))
                break
    return out


@dataclass
class Overlap:
    """One problem of a dataset whose statement matches one of an evaluation set (``bridge data decontam``)."""

    id: str
    split: str
    against: str  # the evaluation dataset
    against_id: str
    against_split: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return dict(self.__dict__)


def _by_split(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.split, []).append(p)
    return out


def find_overlaps(problems: list[Problem], against: dict[str, list[Problem]], n: int = 20,
                  itself: str | None = None) -> list[Overlap]:
    """Every problem matching a problem of each evaluation set (at most one match per set and split).

    ``itself`` names the evaluation set that is the checked dataset: its split is compared with the other
    splits only (each problem matches itself).
    """
    mine = _by_split(problems)
    out: list[Overlap] = []
    for name, ev in against.items():
        theirs = _by_split(ev)
        ids = {(p.split, p.id): p for p in problems}
        for split, train in mine.items():
            for ev_split, ev_problems in theirs.items():
                if name == itself and ev_split == split:
                    continue
                for c in find_contamination(train, ev_problems, n):
                    p = ids[(split, c.train_id)]
                    out.append(Overlap(p.id, p.split, name, c.eval_id, ev_split, c.reason))
    order = {(p.split, p.id): i for i, p in enumerate(problems)}
    return sorted(out, key=lambda o: (order[(o.split, o.id)], o.against, o.against_split))


# -- informal text ----------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
TEXT_N = 13  # word n-grams, the usual length for prose (GPT-3's decontamination)


def text_tokens(text: str) -> list[str]:
    """Lowercased words and numbers: LaTeX markup, punctuation and Lean's doc-comment fences fall away,
    so `$\\frac{1}{2}$` and `\\(\\frac12\\)` leave the same words."""
    return _WORD.findall(text.lower())


def find_text_contamination(train: Iterable[tuple[str, str]], evaluation: Iterable[Problem],
                            n: int = TEXT_N, shortest: int = 8) -> list[Contamination]:
    """Every ``(id, text)`` of informal training text that shares a run of ``n`` words with an evaluation
    problem's informal statement, or holds the whole of a shorter statement (of ``shortest`` words or
    more: below that, common phrases would match)."""
    grams: dict[int, dict[tuple[str, ...], str]] = {}
    for e in evaluation:
        toks = text_tokens(e.informal_statement)
        if len(toks) < shortest:
            continue
        size = min(n, len(toks))
        for g in ngrams(toks, size):
            grams.setdefault(size, {}).setdefault(g, e.id)
    out = []
    for tid, text in train:
        toks = text_tokens(text)
        hit = next(((size, table[g]) for size, table in sorted(grams.items(), reverse=True)
                    for g in ngrams(toks, size) if g in table), None)
        if hit:
            size, eid = hit
            out.append(Contamination(tid, eid, f"shared {size}-word run"))
    return out
