"""Decontamination: flag training items whose statement is an evaluation item's statement.

A statement is compared whole, in a canonical form (:func:`canonical`): the theorem's name dropped,
comments and whitespace ignored (read with the project's Lean lexer, ``bridge.verify.lexer``),
binder names alpha-normalised (a variable by where it is used, a hypothesis nobody refers to by no name
at all), bound variables of ``∀ ∃ fun ∑ ...`` renamed in order within their part, redundant parentheses
dropped, and the binders compared as a multiset (one entry per name, a conjunction of hypotheses split),
so reordering hides nothing. Two statements match when

* their canonical forms are equal (``reason`` "same statement (canonical form)"), or
* their conclusions are equal in canonical form and the whole statements are near-duplicates: the
  Jaccard similarity of their canonical token bigrams (taken within each binder entry and within the
  conclusion, so order between entries does not count) is at least :data:`NEAR_THRESHOLD`
  ("near-duplicate statement (score S)").

The threshold is calibrated on the shipped miniF2F and ProofNet splits (``docs/decontamination.md``):
no ``valid`` problem matches a ``test`` problem, and every disguised copy of a test statement does.
The old rule (a shared 20-gram of tokens) matched hypothesis boilerplate such as
``(x y z : ℝ) (h₀ : 0 < x ∧ 0 < y ∧ 0 < z)`` and dropped honest statements.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.data.problem import Problem
from bridge.verify.lean_text import mask
from bridge.verify.lexer import LexError, tokenize, tokenize_plain

NEAR_THRESHOLD = 0.95  # calibrated: docs/decontamination.md (`python benchmarks/bench_decontam.py`)
NGRAM = 2  # the near-duplicate score's n-gram length (canonical tokens)
EXACT = "same statement (canonical form)"

# -- the canonical form (pure) ----------------------------------------------------------------------------

_OPEN = {"(": ")", "[": "]", "{": "}", "⦃": "⦄", "⟨": "⟩"}
_CLOSE = frozenset(_OPEN.values())
_BINDER_OPEN = ("(", "{", "[", "⦃")
_DECL_WORDS = frozenset({"theorem", "lemma", "example", "def", "abbrev"})
_QUANTIFIERS = frozenset({"∀", "∃", "λ", "fun", "∑", "∏", "⋃", "⋂", "Σ", "Π", "⨆", "⨅", "∫"})
_BIND_END = frozenset({",", "=>", "↦"})  # where a quantifier's binders end
_BIND_STOP = frozenset({":", "∈", "∉", "in", "<", "≤", ">", "≥", "≠", "⊆", "⊂", "|"})  # a bound name's type or range
_WEAKER_THAN_AND = frozenset({"∨", "→", "↔", "->", "<->", "¬", "\\/", "∀", "∃", "fun", "λ", "if", "then", "else"})
# a symbol run of Lean's lexer is split into characters, but for these operators, so that whitespace between
# two symbols (`≤ -1` against `≤-1`) does not change the tokens
_SYMBOL_PARTS = re.compile(r":=|=>|<->|->|<-|<=|>=|!=|\|\||&&|/\\|\\/|.", re.S)
_IDENT = re.compile(r"[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪ]*(?:\.[^\W\d][\w'!?₀-₉ₐ-ₜᵢ-ᵪ]*)*$")
_FALLBACK = re.compile(r"[^\W\d][\w'.₀-₉]*|\d+|\S")
VARIABLE, HYPOTHESIS, BOUND = "_x", "_h", "_b"  # the canonical names


def _tokens(statement: str) -> list[str]:
    """Lean's tokens of ``statement`` (comments dropped), symbol runs split (``_SYMBOL_PARTS``)."""
    try:
        raw = [(t.kind, t.text) for t in tokenize(statement)]
    except LexError:
        try:
            raw = [(t.kind, t.text) for t in tokenize_plain(statement)]
        except LexError:  # text Lean would not lex: comments and strings masked, coarser but still compared
            raw = [("symbol" if not _IDENT.match(x) and not x.isdigit() else "ident", x)
                   for x in _FALLBACK.findall(mask(statement))]
    out: list[str] = []
    for kind, text in raw:
        out.extend(_SYMBOL_PARTS.findall(text) if kind == "symbol" else [text])
    return out


def _matching(toks: list[str], i: int) -> int:
    """Index of the bracket closing ``toks[i]``, or -1."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j] in _OPEN:
            depth += 1
        elif toks[j] in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def _depth0(toks: list[str], wanted: frozenset[str] | set[str], start: int = 0) -> int:
    """First index at bracket depth 0 whose token is in ``wanted``, or -1."""
    depth = 0
    for j in range(start, len(toks)):
        t = toks[j]
        if depth == 0 and t in wanted:
            return j
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth = max(0, depth - 1)
    return -1


def _signature(toks: list[str]) -> list[str]:
    """The tokens after the declaration's keyword and name, before its top-level ``:=``."""
    for i, t in enumerate(toks):
        if t in _DECL_WORDS:
            j = i + 1
            if t != "example" and j < len(toks) and toks[j] not in _OPEN and toks[j] != ":":
                j += 1  # the name
            toks = toks[j:]
            break
    end = _depth0(toks, {":="})
    return toks if end < 0 else toks[:end]


@dataclass(frozen=True)
class _Group:
    bracket: str
    names: tuple[str, ...]
    type: tuple[str, ...]


def _split(sig: list[str]) -> tuple[list[_Group], list[str]]:
    """Binder groups and the conclusion."""
    groups: list[_Group] = []
    i = 0
    while i < len(sig) and sig[i] in _BINDER_OPEN:
        j = _matching(sig, i)
        if j < 0:
            break
        inner = sig[i + 1:j]
        colon = _depth0(inner, {":", ":="})
        bracket = "[" if sig[i] == "[" else "("  # explicit, implicit, strict implicit: the same statement
        if colon < 0:
            names, typ = ((), tuple(inner)) if bracket == "[" else (tuple(inner), ())
        else:  # `(s := v)`, an optional argument, keeps its `:=`
            names, typ = tuple(inner[:colon]), tuple(inner[colon + (inner[colon] == ":"):])
        groups.append(_Group(bracket, names, typ))
        i = j + 1
    if i < len(sig) and sig[i] == ":":
        i += 1
    return groups, sig[i:]


def _head(tok: str) -> str:
    return tok.split(".", 1)[0]


def _binding_positions(toks: list[str]) -> tuple[set[int], set[int]]:
    """(indices of names bound inside ``toks``, indices of the parentheses around quantifier binders)."""
    bound: set[int] = set()
    drop: set[int] = set()
    for q, t in enumerate(toks):
        if t in _QUANTIFIERS:
            depth, collecting, k = 0, True, q + 1
            while k < len(toks) and not (depth == 0 and toks[k] in _BIND_END):
                x = toks[k]
                if x in _OPEN:
                    if depth == 0 and x == "(" and collecting:
                        close = _matching(toks, k)
                        if close > 0 and ":" in toks[k:close]:
                            drop |= {k, close}
                    depth += 1
                elif x in _CLOSE:
                    depth -= 1
                    if depth < 0:
                        break
                elif depth == 0 and x in _BIND_STOP:
                    collecting = False
                elif collecting and _IDENT.match(x) and x != "_" and (depth == 0 or ":" in toks[k:_next_colon(toks, k)]):
                    bound.add(k)
                k += 1
        elif t == "{" and q + 2 < len(toks) and _IDENT.match(toks[q + 1]) and toks[q + 2] in ("|", ":"):
            bound.add(q + 1)  # set-builder notation: {x | p x}, {x : α | p x}
    return bound, drop


def _next_colon(toks: list[str], k: int) -> int:
    """Index just past the ``:`` that ends a parenthesised binder group opened before ``k`` (or ``k``)."""
    for j in range(k, len(toks)):
        if toks[j] == ":":
            return j + 1
        if toks[j] in _CLOSE or toks[j] in _OPEN:
            return k
    return k


def _drop_redundant_parens(toks: list[str]) -> list[str]:
    """Parentheses around one token, around the whole, or doubled: ``((a + b))`` is ``(a + b)``."""
    while True:
        pairs: dict[int, int] = {}
        stack: list[int] = []
        for i, t in enumerate(toks):
            if t == "(":
                stack.append(i)
            elif t == ")" and stack:
                pairs[stack.pop()] = i
        drop: set[int] = set()
        for i, j in pairs.items():
            if (j == i + 2 and toks[i + 1] not in ("·", ",")) or (i == 0 and j == len(toks) - 1 and j > 1) \
                    or (toks[i + 1] == "(" and pairs.get(i + 1) == j - 1):
                drop |= {i, j}
                break  # one at a time: pairs overlap
        if not drop:
            return toks
        toks = [t for k, t in enumerate(toks) if k not in drop]


def _part(toks: list[str], outer: dict[str, str]) -> tuple[str, ...]:
    """One binder type or the conclusion: outer names renamed, bound names renamed in order of binding
    (within this part only, so that parts can be compared in any order), redundant parentheses dropped."""
    bound, drop = _binding_positions(toks)
    local: dict[str, str] = {}
    out: list[str] = []
    for k, t in enumerate(toks):
        if k in drop:
            continue
        if k in bound:
            local[t] = f"{BOUND}{len(local)}"
        head, _, rest = t.partition(".")
        name = local.get(head) or outer.get(head)
        out.append(t if name is None else name + ("." + rest if rest else ""))
    return _flip(tuple(_drop_redundant_parens(out)))


_RELATIONS = frozenset({"=", "≠", "<", "≤", ">", "≥", "∣", "∈", "∉", "⊆", "⊂", "≡", "<=", ">=", "!="})
_FLIP = {">": "<", "≥": "≤", ">=": "≤"}


def _flip(toks: tuple[str, ...]) -> tuple[str, ...]:
    """``a > b`` as ``b < a`` (and ``≥`` as ``≤``) when that relation is the part's only one at depth 0 and
    nothing weaker is there (so it is the top of the proposition)."""
    lst = list(toks)
    rel, depth = [], 0
    for j, t in enumerate(lst):
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and t in _RELATIONS:
            rel.append(j)
    if len(rel) != 1 or _depth0(lst, _WEAKER_THAN_AND | {"∧", "/\\", ",", "∨", "↔"}) >= 0:
        return toks
    j = rel[0]
    lhs, rhs = _side(lst[:j]), _side(lst[j + 1:])
    if lst[j] in _FLIP:
        return (*rhs, _FLIP[lst[j]], *lhs)
    return (*lhs, lst[j], *rhs)


def _side(toks: list[str]) -> list[str]:
    """One side of the top relation without the parentheses around all of it: relations bind more
    weakly than arithmetic, so ``(a + b) = 3`` is ``a + b = 3`` (not when the group holds a relation or a
    binder of its own)."""
    if len(toks) > 2 and toks[0] == "(" and _matching(toks, 0) == len(toks) - 1:
        inner = toks[1:-1]
        if _depth0(inner, _RELATIONS | _WEAKER_THAN_AND | {"∧", "/\\", ",", ":", "∨", "↔"}) < 0:
            return inner
    return toks


def _conjuncts(typ: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``a ∧ b ∧ c`` as ``[a, b, c]`` when ``∧`` is the top of the hypothesis (nothing weaker at depth 0)."""
    if _depth0(list(typ), _WEAKER_THAN_AND) >= 0 or _depth0(list(typ), {"∧", "/\\"}) < 0:
        return [typ]
    out: list[tuple[str, ...]] = []
    rest = list(typ)
    while (i := _depth0(rest, {"∧", "/\\"})) >= 0:
        out.append(tuple(rest[:i]))
        rest = rest[i + 1:]
    return [*out, tuple(rest)]


@dataclass(frozen=True)
class Canonical:
    """A statement's canonical form: its binder entries as a sorted multiset, and its conclusion."""

    entries: tuple[tuple[str, ...], ...]
    conclusion: tuple[str, ...]
    grams: Counter[tuple[str, ...]] = field(compare=False, hash=False, repr=False, default_factory=Counter)

    @property
    def key(self) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
        return self.entries, self.conclusion

    def text(self) -> str:
        """One line, for a person (and a stable key for deduplication)."""
        return " ".join(" ".join(e) + " ;" for e in self.entries) + " ⊢ " + " ".join(self.conclusion)


def _grams(entries: tuple[tuple[str, ...], ...], conclusion: tuple[str, ...], n: int) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for part in (*[("⟪", *e, "⟫") for e in entries], ("⊢", *conclusion, "∎")):
        out.update(tuple(part[i:i + n]) for i in range(max(1, len(part) - n + 1)))
    return out


_CACHE: dict[tuple[str, int], Canonical] = {}


def canonical(statement: str, n: int = NGRAM) -> Canonical:
    """The canonical form of a Lean statement (``theorem NAME BINDERS : CONCLUSION := ...``; a bare
    proposition is read as a conclusion); pure, and cached since evaluation sets are canonicalised often."""
    hit = _CACHE.get((statement, n))
    if hit is not None:
        return hit
    groups, conclusion = _split(_signature(_tokens(statement)))
    names = [nm for g in groups for nm in g.names if nm != "_"]
    used: set[str] = set()
    for toks in (*(g.type for g in groups), conclusion):
        used |= {_head(t) for t in toks}
    # a variable is named by its first use in the conclusion, then by where it is bound; a name nobody
    # uses (a hypothesis, mostly) is no name at all: renaming or reordering hypotheses changes nothing
    outer: dict[str, str] = {}
    for t in conclusion:
        if _head(t) in names:
            outer.setdefault(_head(t), f"{VARIABLE}{len(outer)}")
    # the others by what is said of them (their type, the parts that mention them), not by where they are
    # bound, so that exchanging two binders changes nothing; their place breaks ties
    rest = [nm for nm in dict.fromkeys(names) if nm in used and nm not in outer]
    parts = [g.type for g in groups]

    def said_of(nm: str) -> tuple:
        def view(toks: tuple[str, ...]) -> tuple[str, ...]:
            return tuple("_self" if _head(t) == nm else outer.get(_head(t), "_?" if _head(t) in rest else t)
                         for t in toks)
        own = tuple(view(g.type) for g in groups if nm in g.names)
        return own, tuple(sorted(view(p) for p in parts if any(_head(t) == nm for t in p)))

    for nm in sorted(rest, key=said_of):
        outer[nm] = f"{VARIABLE}{len(outer)}"
    entries: list[tuple[str, ...]] = []
    for g in groups:
        typ = _part(list(g.type), outer)
        if not g.names:
            entries.append((g.bracket, ":", *typ))
        for nm in g.names:
            name = outer.get(nm, HYPOTHESIS)
            for piece in _conjuncts(typ) if name == HYPOTHESIS else [typ]:
                entries.append((g.bracket, name, ":", *_drop_redundant_parens(list(piece))))
    ent = tuple(sorted(entries))
    concl = _part(conclusion, outer)
    out = Canonical(ent, concl, _grams(ent, concl, n))
    if len(_CACHE) > 50_000:
        _CACHE.clear()
    _CACHE[(statement, n)] = out
    return out


def normalize(statement: str) -> list[str]:
    """The canonical form as one token list (entries in order, then ``⊢`` and the conclusion)."""
    return canonical(statement).text().split()


def similarity(a: Canonical, b: Canonical) -> float:
    """The near-duplicate score: multiset Jaccard of the two statements' canonical n-grams (pure)."""
    inter = sum((a.grams & b.grams).values())
    union = sum((a.grams | b.grams).values())
    return inter / union if union else 1.0


# -- matching ---------------------------------------------------------------------------------------------


@dataclass
class Contamination:
    train_id: str
    eval_id: str
    reason: str  # EXACT | "near-duplicate statement (score S)"
    score: float = 1.0
    also: tuple[str, ...] = ()  # other evaluation problems with the same canonical form


class EvalIndex:
    """An evaluation set indexed by canonical form and by conclusion."""

    def __init__(self, evaluation: Iterable[Problem], n: int = NGRAM) -> None:
        self.n = n
        self.exact: dict[tuple, list[str]] = {}
        self.by_conclusion: dict[tuple[str, ...], list[tuple[str, Canonical]]] = {}
        for e in evaluation:
            if not e.formal_statement:
                continue
            c = canonical(e.formal_statement, n)
            self.exact.setdefault(c.key, []).append(e.id)
            self.by_conclusion.setdefault(c.conclusion, []).append((e.id, c))

    def match(self, train_id: str, statement: str, threshold: float = NEAR_THRESHOLD) -> Contamination | None:
        c = canonical(statement, self.n)
        ids = self.exact.get(c.key)
        if ids:
            return Contamination(train_id, ids[0], EXACT, 1.0, tuple(ids[1:]))
        best: tuple[float, str] | None = None
        for eid, ec in self.by_conclusion.get(c.conclusion, []):
            s = similarity(c, ec)
            if s >= threshold and (best is None or s > best[0]):
                best = (s, eid)
        if best is None:
            return None
        return Contamination(train_id, best[1], f"near-duplicate statement (score {best[0]:.3f})", best[0])

    def best_score(self, statement: str) -> tuple[float, str | None]:
        """The highest near-duplicate score against a problem with the same conclusion (calibration)."""
        c = canonical(statement, self.n)
        best: tuple[float, str | None] = (0.0, None)
        for eid, ec in self.by_conclusion.get(c.conclusion, []):
            s = 1.0 if ec.key == c.key else similarity(c, ec)
            if s > best[0]:
                best = (s, eid)
        return best


def find_contamination(train: Iterable[Problem], evaluation: Iterable[Problem] | EvalIndex,
                       n: int = NGRAM, threshold: float = NEAR_THRESHOLD) -> list[Contamination]:
    """Every training problem whose statement matches an evaluation problem's (at most one match each)."""
    index = evaluation if isinstance(evaluation, EvalIndex) else EvalIndex(evaluation, n)
    out = []
    for t in train:
        if t.formal_statement and (hit := index.match(t.id, t.formal_statement, threshold)) is not None:
            out.append(hit)
    return out


@dataclass
class Overlap:
    """One problem of a dataset whose statement matches one of an evaluation set (``bridge data decontam``)."""

    id: str
    split: str
    against: str  # the evaluation dataset (NAME or NAME:SPLIT as given)
    against_id: str
    against_split: str
    reason: str
    score: float = 1.0

    def to_json(self) -> dict[str, str | float]:
        return dict(self.__dict__)


def _by_split(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in problems:
        out.setdefault(p.split, []).append(p)
    return out


def find_overlaps(problems: list[Problem], against: dict[str, list[Problem]], n: int = NGRAM,
                  itself: str | Iterable[str] | None = None, threshold: float = NEAR_THRESHOLD) -> list[Overlap]:
    """Every problem matching a problem of each evaluation set (at most one match per set and split).

    ``itself`` names the evaluation sets that are the checked dataset (or one of its splits): a split is
    compared with the other splits only (each problem matches itself).
    """
    itself = {itself} if isinstance(itself, str) else set(itself or ())
    mine = _by_split(problems)
    out: list[Overlap] = []
    for name, ev in against.items():
        theirs = _by_split(ev)
        ids = {(p.split, p.id): p for p in problems}
        for split, train in mine.items():
            for ev_split, ev_problems in theirs.items():
                if name in itself and ev_split == split:
                    continue
                for c in find_contamination(train, ev_problems, n, threshold):
                    p = ids[(split, c.train_id)]
                    out.append(Overlap(p.id, p.split, name, c.eval_id, ev_split, c.reason, round(c.score, 4)))
    order = {(p.split, p.id): i for i, p in enumerate(problems)}
    return sorted(out, key=lambda o: (order[(o.split, o.id)], o.against, o.against_split))


def load_against(specs: Iterable[str], cfg: object, flag: str = "--against") -> dict[str, list[Problem]]:
    """Evaluation sets by ``NAME`` (every split) or ``NAME:SPLIT`` (a name or a JSONL file); one that
    cannot be had is an error (decontamination fails closed), and so is a split it does not have."""
    from bridge.data.loader import load_dataset
    from bridge.errors import InputError

    out: dict[str, list[Problem]] = {}
    for spec in specs:
        name, _, split = spec.rpartition(":") if _has_split(spec) else (spec, "", "")
        try:
            got = load_dataset(name, cfg, split=split or None)  # type: ignore[arg-type]
        except InputError as e:
            raise InputError(f"decontamination against {spec}: {e.message}",
                             f"point --data-dir (BRIDGE_DATA_DIR) at a copy of it, or choose other sets with {flag}"
                             + (", or --decontam none" if flag == "--decontam" else "")) from None
        if not got:
            raise InputError(f"decontamination against {spec}: no problems" + (f" in split {split!r}" if split else ""),
                             f"give NAME or NAME:SPLIT with a split the dataset has ({flag})")
        out[spec] = got
    return out


def _has_split(spec: str) -> bool:
    """``NAME:SPLIT`` (not a Windows drive or a path whose last part holds a colon)."""
    head, sep, tail = spec.rpartition(":")
    return bool(sep and head and tail and "/" not in tail and "\\" not in tail)


def spec_name(spec: str) -> str:
    """The dataset of a ``NAME`` or ``NAME:SPLIT`` spec."""
    return spec.rpartition(":")[0] if _has_split(spec) else spec


def dedupe_key(statement: str) -> str:
    """A key equal for two statements that are the same up to names, order of hypotheses, whitespace,
    comments and redundant parentheses (synth and formalize deduplicate with it)."""
    return canonical(statement).text()


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


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
