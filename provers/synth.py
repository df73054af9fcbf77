"""Verified synthetic theorems from verified proofs (``bridge synth``), three ways:

* ``have-lift``: every ``have h : T := by tac`` of a proof becomes a theorem of its own over the
  hypotheses it uses (DeepSeek-Prover-V2's subgoals), proved by its own tactic block. Two variants per
  ``have``: over the hypotheses its text names (closed under the variables their types mention), and over
  every hypothesis in scope; the first one Lean proves is kept (context tactics such as ``linarith`` use
  hypotheses they never name).
* ``mutate``: Alchemy-style rewrites of a statement with library lemmas: the conclusion or a hypothesis
  replaced by an equivalent (``rw`` forms: ``eq_comm``, ``not_le``, ...), the conclusion by a consequence or
  a hypothesis by a premise (``apply`` forms: ``le_of_lt``, ``And.left``, ``Or.inl``, ...), the proof derived
  from the original one through that lemma.
* ``conjecture``: the model proposes related statements from a solved one (STP's prompt); the prover
  samples K proofs of each; those whose pass rate lies in the window (STP: (0, 1/4]) are kept.

Every item is checked again by the gate (and by ``--strict``'s kernel replay when the checker is there),
deduplicated (against the seeds too) and decontaminated; each carries its provenance and the
``lean-formalized`` band. Pure proposal functions in the middle; seeds, model calls, Lean and the run
store at the edges.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import jsonl
from bridge.data.problem import Problem
from bridge.errors import InputError, SetupError
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.candidate import Candidate, from_parts, signature
from bridge.verify.lean_text import declarations, mask
from bridge.verify.verdict import Verdict
from provers.backends.base import Backend, SamplingParams
from provers.formalize.funnel import FunnelStore
from provers.formalize.prompts import conjecture_prompt, conjecture_statement
from provers.formalize.stages import (
    StageResult,
    check_uncontaminated,
    check_unique,
    check_well_formed,
    dedupe_key,
    lean_candidate,
    lean_result,
    no,
)
from provers.formalize.statement import (
    Statement,
    TopForm,
    identifiers,
    lean_name,
    operand,
    parse_statement,
    top_form,
)

METHODS = ("have-lift", "mutate", "conjecture")
LEAN_BAND = "lean-formalized"
STP_LEMMA = "theorem true: True"  # STP's lemma for "no particular direction"
DEFAULT_WINDOW = (0.0, 0.25)
VERDICTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS synth_verdicts (item_id TEXT PRIMARY KEY, verdict TEXT NOT NULL, data TEXT NOT NULL,
    created REAL);
"""


@dataclass(frozen=True)
class Seed:
    """A verified proof to synthesise from."""

    id: str  # the sample id (a run's PROBLEM/ROUND/INDEX) or the data row's id
    problem_id: str
    header: str
    statement: str  # ends in `:= by`
    proof: str  # the tactic block after `:= by`
    helpers: str = ""
    source: str = ""
    model: str | None = None


@dataclass
class SynthItem:
    id: str
    method: str
    parent: str  # the seed's id
    header: str
    statement: str
    proof: str
    provenance: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # have-lift: the variants of one `have`, in order; the first proved is kept

    def candidate(self) -> Candidate:
        return from_parts(self.id, self.header, self.statement, self.proof)


@dataclass(frozen=True)
class Skip:
    """A proposal that could not be made, and why (reported, never silent)."""

    seed: str
    method: str
    kind: str
    reason: str


# -- tactic text ----------------------------------------------------------------------------------------


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def tactic_lines(proof: str) -> list[str]:
    """The proof's tactic block as lines, dedented (a proof on the statement's own line is one line)."""
    lines = proof.split("\n")
    first = lines[0].strip()
    rest = [ln.rstrip() for ln in lines[1:]]
    body = [ln for ln in rest if ln.strip()]
    cut = min((indent_of(ln) for ln in body), default=0)
    out = ([first] if first else []) + [ln[cut:] if ln.strip() else "" for ln in rest]
    while out and not out[-1].strip():
        out.pop()
    return out


def indented(lines: list[str], n: int) -> str:
    pad = " " * n
    return "".join((pad + ln if ln.strip() else "") + "\n" for ln in lines)


def helper_names(helpers: str) -> set[str]:
    return {d.group("name") for d in declarations(helpers) if d.group("name")}


def _uses(text: str, names: set[str]) -> list[str]:
    ids = identifiers(text)
    return sorted(n for n in names if n in ids)


# -- have-lift (pure) -----------------------------------------------------------------------------------

_HAVE = re.compile(r"^(?P<lead>[ \t]*(?:[·.][ \t]+)?)have\b[ \t]*")
_INTRO_ALL = ("intro", "intros", "rintro", "introv", "ext", "funext", "rename_i")
_WITH = ("rcases", "cases", "cases'", "induction", "induction'", "obtain", "match")
_NAMED = ("by_contra", "by_contra!", "by_cases", "set", "generalize", "choose", "case", "next")


@dataclass(frozen=True)
class Have:
    """``have NAME : TYPE := by TACTIC`` at line ``line`` (0-based) of a tactic block."""

    name: str
    type: str
    tactic: tuple[str, ...]  # the block, dedented
    line: int


def _top(masked: str, ch: str, start: int = 0) -> int:
    depth = 0
    for i in range(start, len(masked)):
        c = masked[i]
        if c in "([{⦃⟨":
            depth += 1
        elif c in ")]}⦄⟩":
            depth -= 1
        elif depth == 0 and masked.startswith(ch, i) and not (ch == ":" and masked[i + 1:i + 2] == "="):
            return i
    return -1


def find_haves(lines: list[str]) -> tuple[list[Have], list[tuple[int, str, str]]]:
    """Every ``have NAME : T := by ...`` of a tactic block, and (line, kind, why) for each ``have`` not read."""
    haves: list[Have] = []
    unread: list[tuple[int, str, str]] = []
    masked = mask("\n".join(lines)).split("\n")
    for i, (line, m_line) in enumerate(zip(lines, masked, strict=True)):
        m = _HAVE.match(m_line)
        if not m:
            continue
        col = len(m.group("lead"))
        rest = m_line[m.end():]
        colon = _top(rest, ":")
        if colon < 0:
            unread.append((i, "no type", "a `have` without a type (`have h := ...`)"))
            continue
        head = rest[:colon].strip()
        if head and not re.fullmatch(r"[^\W\d][\w'₀-₉!?]*", head):
            unread.append((i, "binders or a pattern", f"a `have` with binders or a pattern (`have {head} : ...`)"))
            continue
        assign = _top(rest, ":=", colon + 1)
        if assign < 0:
            unread.append((i, "multi-line type", "a `have` whose type goes on past its line"))
            continue
        tail = rest[assign + 2:].strip()
        if not re.match(r"by\b", tail):
            unread.append((i, "term proof", "a `have` proved by a term, not a tactic block"))
            continue
        offset = m.end()
        type_ = line[offset + colon + 1:offset + assign].strip()
        inline = line[offset + assign + 2:].strip()[2:].strip()
        block: list[str] = []
        for j in range(i + 1, len(lines)):
            if lines[j].strip() and indent_of(lines[j]) <= col:
                break
            block.append(lines[j])
        while block and not block[-1].strip():
            block.pop()
        cut = min((indent_of(b) for b in block if b.strip()), default=0)
        tactic = ([inline] if inline else []) + [b[cut:] if b.strip() else "" for b in block]
        if not any(t.strip() for t in tactic):
            unread.append((i, "empty block", "a `have` with an empty tactic block"))
            continue
        haves.append(Have(head or "this", type_, tuple(tactic), i))
    return haves, unread


def introduced_names(lines: list[str]) -> set[str]:
    """Names that tactics bring into the context (``intro x``, ``obtain ⟨k, hk⟩ := h``, ``cases h with``,
    ``by_cases h : ...``): their types are not in the statement, so nothing using them can be lifted."""
    out: set[str] = set()
    for line in mask("\n".join(lines)).split("\n"):
        s = re.sub(r"^[ \t]*(?:[·.][ \t]+)?", "", line)
        word = s.split(" ", 1)[0] if s else ""
        rest = s[len(word):]
        if word in _INTRO_ALL:
            out |= identifiers(rest)
        elif word in _WITH:
            if word == "obtain":
                cut = min([i for i in (rest.find(":="), _top(rest, ":")) if i >= 0], default=len(rest))
                out |= identifiers(rest[:cut])
            elif " with" in rest:
                out |= identifiers(rest.split(" with", 1)[1])
        elif word in _NAMED:
            if word in ("set", "choose"):
                out |= identifiers(re.split(r":=|\busing\b", rest)[0]) | identifiers(rest.split(" with", 1)[1]
                                                                                    if " with" in rest else "")
            elif word == "generalize":
                out |= identifiers(rest.split(":", 1)[0]) | identifiers(rest.rsplit("=", 1)[-1])
            else:
                out |= identifiers(rest.split(":", 1)[0].split("=>", 1)[0])
    return out - {"with", "at", "using", "only", "in", "fun"}


@dataclass(frozen=True)
class LiftedHave:
    name: str  # the have's name
    line: int
    variant: str  # "used": the hypotheses it names; "all": every hypothesis in scope
    binders: tuple[str, ...]  # the lifted theorem's binder groups, in order
    type: str
    tactic: tuple[str, ...]


def lift_haves(st: Statement, proof_lines: list[str]) -> tuple[list[LiftedHave], list[tuple[int, str, str]]]:
    """Every liftable ``have`` of a proof as one or two lifted statements (pure), and why others are not."""
    haves, unread = find_haves(proof_lines)
    out: list[LiftedHave] = []
    binder_of: dict[str, int] = {}
    for k, b in enumerate(st.binders):
        for n in b.names:
            binder_of[n] = k
    for h_idx, h in enumerate(haves):
        earlier = {x.name: x for x in haves[:h_idx]}  # the latest of a name wins, as in Lean
        intro = introduced_names(proof_lines[:h.line])
        if "this" in identifiers(h.type + "\n" + "\n".join(h.tactic)) and "this" in earlier:
            unread.append((h.line, "uses `this`", f"`have {h.name}` uses an anonymous `this`, which a theorem cannot name"))
            continue

        def closure(start: set[str], earlier: dict[str, Have] = earlier, intro: set[str] = intro) -> tuple[set[int], list[str], str | None]:
            binders: set[int] = set()
            hyps: list[str] = []
            todo = sorted(start, reverse=True)  # a fixed order: the same reason on every run
            done: set[str] = set()
            while todo:
                n = todo.pop()
                if n in done:
                    continue
                done.add(n)
                if n in earlier:
                    if n not in hyps:
                        hyps.append(n)
                        todo += sorted(identifiers(earlier[n].type), reverse=True)
                elif n in binder_of:
                    if binder_of[n] not in binders:
                        binders.add(binder_of[n])
                        todo += sorted(identifiers(st.binders[binder_of[n]].type), reverse=True)
                elif n in intro:
                    return binders, hyps, n
            # instance and implicit binders that mention an included variable come along
            names = {x for k in binders for x in st.binders[k].names}
            for k, b in enumerate(st.binders):
                if k not in binders and not b.names and identifiers(b.type) & names:
                    binders.add(k)
            return binders, hyps, None

        used = identifiers(h.type + "\n" + "\n".join(h.tactic))
        b_used, hyps_used, blocked = closure(used)
        if blocked is not None:
            unread.append((h.line, "uses a name a tactic introduced",
                           f"`have {h.name}` uses `{blocked}`, which a tactic introduced before it"))
            continue
        variants = [("used", b_used, hyps_used)]
        b_all, hyps_all, blocked_all = closure(used | set(binder_of) | set(earlier))
        if blocked_all is None and (b_all, sorted(hyps_all)) != (b_used, sorted(hyps_used)):
            variants.append(("all", b_all, hyps_all))
        order = {n: i for i, n in enumerate(earlier)}
        for variant, bs, hs in variants:
            groups = [st.binders[k].text for k in sorted(bs)]
            groups += [f"({n} : {earlier[n].type})" for n in sorted(hs, key=order.__getitem__)]
            out.append(LiftedHave(h.name, h.line, variant, tuple(groups), h.type, h.tactic))
    return out, unread


def have_lift(seed: Seed) -> tuple[list[SynthItem], list[Skip]]:
    st = parse_statement(seed.statement)
    if st is None:
        return [], [Skip(seed.id, "have-lift", "unreadable statement", "the seed's statement cannot be read")]
    lines = tactic_lines(seed.proof)
    lifted, unread = lift_haves(st, lines)
    helpers = helper_names(seed.helpers)
    skips = [Skip(seed.id, "have-lift", kind, f"line {ln + 1}: {why}") for ln, kind, why in unread]
    items: list[SynthItem] = []
    base = lean_name(seed.problem_id)
    seen_names: dict[str, int] = {}
    for lh in lifted:
        k = seen_names.setdefault(f"{lh.name}@{lh.line}", len(seen_names))
        name = f"{base}_have_{lean_name(lh.name) if lh.name != 'this' else 'this'}_{k}"
        proof = indented(list(lh.tactic), 2)
        statement = st.signature_with(name, " ".join(lh.binders), lh.type)
        bad = _uses(proof + lh.type, helpers)
        if bad:
            skips.append(Skip(seed.id, "have-lift", "uses a helper lemma",
                              f"`have {lh.name}` uses the proof's helper lemma(s) {', '.join(bad)}"))
            continue
        group = f"{seed.id}~have{k}"
        iid = group + ("" if lh.variant == "used" else "~all")
        items.append(SynthItem(iid, "have-lift", seed.id, seed.header, statement, proof, group=group, provenance={
            "have": lh.name, "line": lh.line + 1, "variant": lh.variant, "hypotheses": list(lh.binders)}))
    return items, skips


# -- mutate (pure) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MutationRule:
    """``lemma`` turns a proposition of top form ``op`` into ``build(form)``; ``form`` is ``rw`` (an
    equivalence, either way) or ``apply`` (an implication: the original implies the new one for a
    conclusion, the new one implies the original for a hypothesis)."""

    lemma: str
    form: str
    op: str
    build: Callable[[TopForm], str]


def _rel(op: str) -> Callable[[TopForm], str]:
    return lambda t: f"{operand(t.rhs, op)} {op} {operand(t.lhs, op)}"


REWRITES = (  # equivalences: a hypothesis or the conclusion rewritten
    MutationRule("eq_comm", "rw", "=", _rel("=")),
    MutationRule("ne_comm", "rw", "≠", _rel("≠")),
    MutationRule("and_comm", "rw", "∧", _rel("∧")),
    MutationRule("or_comm", "rw", "∨", _rel("∨")),
    MutationRule("ge_iff_le", "rw", "≤", _rel("≥")),
    MutationRule("gt_iff_lt", "rw", "<", _rel(">")),
    MutationRule("not_le", "rw", "<", lambda t: f"¬{operand(t.rhs, '≤')} ≤ {operand(t.lhs, '≤')}"),
    MutationRule("not_lt", "rw", "≤", lambda t: f"¬{operand(t.rhs, '<')} < {operand(t.lhs, '<')}"),
)
CONSEQUENCES = (  # the conclusion replaced by something it implies
    MutationRule("le_of_lt", "apply", "<", lambda t: f"{t.lhs} ≤ {t.rhs}"),
    MutationRule("ne_of_lt", "apply", "<", lambda t: f"{t.lhs} ≠ {t.rhs}"),
    MutationRule("le_of_eq", "apply", "=", lambda t: f"{t.lhs} ≤ {t.rhs}"),
    MutationRule("And.left", "apply", "∧", lambda t: t.lhs),
    MutationRule("And.right", "apply", "∧", lambda t: t.rhs),
)
PREMISES = (  # a hypothesis replaced by something that implies it
    MutationRule("le_of_lt", "apply", "≤", lambda t: f"{t.lhs} < {t.rhs}"),
    MutationRule("ne_of_lt", "apply", "≠", lambda t: f"{t.lhs} < {t.rhs}"),
    MutationRule("le_of_eq", "apply", "≤", lambda t: f"{t.lhs} = {t.rhs}"),
    MutationRule("Or.inl", "apply", "∨", lambda t: t.lhs),
    MutationRule("Or.inr", "apply", "∨", lambda t: t.rhs),
)


@dataclass(frozen=True)
class Mutation:
    rule: MutationRule
    target: str  # "conclusion" or the hypothesis's name
    original: str
    mutated: str
    binders: str
    conclusion: str
    proof: str


def _iff_step(lemma: str, h: str) -> str:
    return f"first | exact ({lemma}).mp {h} | exact ({lemma}).mpr {h}"


def mutations(st: Statement, proof_lines: list[str]) -> list[Mutation]:
    """Every rule that applies to the conclusion or to a single-name hypothesis (pure)."""
    out: list[Mutation] = []
    concl = top_form(st.conclusion)
    if concl is not None:
        for rule in (*REWRITES, *CONSEQUENCES):
            if rule.op != concl.op:
                continue
            new = rule.build(concl)
            step = _iff_step(rule.lemma, "bridge_orig") if rule.form == "rw" else f"exact {rule.lemma} bridge_orig"
            proof = f"  have bridge_orig : {st.conclusion} := by\n" + indented(proof_lines, 4) + f"  {step}\n"
            out.append(Mutation(rule, "conclusion", st.conclusion, new, st.binder_text, new, proof))
    for k, b in enumerate(st.binders):
        if len(b.names) != 1 or b.bracket != "(":
            continue
        form = top_form(b.type)
        if form is None:
            continue
        h = b.names[0]
        for rule in (*REWRITES, *PREMISES):
            if rule.op != form.op:
                continue
            new = rule.build(form)
            binders = " ".join(x.text if i != k else f"({h} : {new})" for i, x in enumerate(st.binders))
            step = (f"have {h} : {b.type} := by {_iff_step(rule.lemma, h)}" if rule.form == "rw"
                    else f"have {h} : {b.type} := {rule.lemma} {h}")
            out.append(Mutation(rule, h, b.type, new, binders, st.conclusion, f"  {step}\n" + indented(proof_lines, 2)))
    return out


def mutate(seed: Seed) -> tuple[list[SynthItem], list[Skip]]:
    st = parse_statement(seed.statement)
    if st is None:
        return [], [Skip(seed.id, "mutate", "unreadable statement", "the seed's statement cannot be read")]
    lines = tactic_lines(seed.proof)
    bad = _uses("\n".join(lines), helper_names(seed.helpers))
    if bad:
        return [], [Skip(seed.id, "mutate", "uses a helper lemma",
                         f"the proof uses its helper lemma(s) {', '.join(bad)}, which a mutated theorem would lack")]
    muts = mutations(st, lines)
    if not muts:
        return [], [Skip(seed.id, "mutate", "no rule applies", "no rewrite rule matches the conclusion or a hypothesis")]
    base = lean_name(seed.problem_id)
    items = []
    for k, m in enumerate(muts):
        statement = st.signature_with(f"{base}_mut_{k}", m.binders, m.conclusion)
        items.append(SynthItem(f"{seed.id}~mut{k}", "mutate", seed.id, seed.header, statement, m.proof, provenance={
            "lemma": m.rule.lemma, "form": m.rule.form, "target": m.target, "original": m.original,
            "mutated": m.mutated}))
    return items, []


# -- choosing (pure) -------------------------------------------------------------------------------------


def in_window(rate: float, window: tuple[float, float]) -> bool:
    """STP's window: lo < rate <= hi (a conjecture never proved is no item; one always proved teaches little)."""
    lo, hi = window
    return lo < rate <= hi


def parse_window(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--window must be LO,HI (e.g. 0,0.25), not {text!r}") from None
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"--window {text}: need 0 <= LO < HI <= 1")
    return lo, hi


def screen_items(items: list[SynthItem], seeds: list[Seed], against: dict[str, list[Problem]],
                 n: int) -> tuple[list[SynthItem], dict[str, StageResult]]:
    """Items that are well formed, new (not a seed's statement, not another item's) and clean; and why
    each other item was dropped (pure)."""
    seen = {dedupe_key(s.statement): f"seed {s.id}" for s in seeds}
    keep: list[SynthItem] = []
    dropped: dict[str, StageResult] = {}
    for it in items:
        r = check_well_formed(it.statement, it.header)
        if r.passed:
            r = check_unique(it.id, it.statement, seen)
        if r.passed:
            r = check_uncontaminated(it.id, it.statement, against, n)
        if r.passed:
            keep.append(it)
        else:
            dropped[it.id] = r
    return keep, dropped


def choose(items: list[SynthItem], verdicts: dict[str, Verdict], count_fast_gate: bool) -> tuple[list[SynthItem], dict[str, str]]:
    """Items the gate proved, one per group (the first proved variant); why each other one is out."""
    kept: list[SynthItem] = []
    why: dict[str, str] = {}
    taken: set[str] = set()
    for it in items:
        v = verdicts.get(it.id)
        g = it.group or it.id
        if v is None:
            why[it.id] = "not verified (the run stopped)"
        elif not v.counted(count_fast_gate):
            why[it.id] = f"{v.verdict}" + (f" ({v.rule})" if v.rule else "") + f": {(v.reason or 'fast gate only')[:200]}"
        elif g in taken:
            why[it.id] = "superseded: an earlier variant of the same `have` is proved"
        else:
            taken.add(g)
            kept.append(it)
    return kept, why


def item_row(it: SynthItem, v: Verdict, strict: bool, meta: dict[str, Any]) -> dict[str, Any]:
    """An item as a problem row with its proof: `bridge prove` reads it, `bridge train sft` trains on it
    (band lean-formalized)."""
    return {"name": it.id, "split": "train", "header": it.header, "formal_statement": it.statement, "proof": it.proof,
            "band": LEAN_BAND, "source": f"synth:{it.method}", "tags": ["synthetic", it.method],
            "provenance": {"method": it.method, "parent": it.parent, **it.provenance, "seeds_from": meta.get("source"),
                           "verified": {"verdict": v.verdict, "gate": v.gate, "strict": strict,
                                        "lean_version": v.lean_version}}}


# -- seeds (I/O) -----------------------------------------------------------------------------------------


def seed_parts(body: str, statement: str) -> tuple[str, str]:
    """(helpers, tactic proof) of a checked body whose statement ends in ``:= by``: a chat prover's
    restated theorem keeps only the signature, so a leading ``by`` of what follows it is dropped."""
    if statement and statement in body:
        i = body.index(statement)
        return body[:i], body[i + len(statement):]
    try:
        sig = signature(statement)
    except ValueError:
        return "", body
    if sig in body:
        i = body.index(sig)
        rest = body[i + len(sig):]
        return body[:i], re.sub(r"^\s*by\b", "", rest, count=1)
    return "", body


def _by_statement(statement: str) -> str:
    s = statement.rstrip()
    return s if s.endswith("by") else s + " by"


def seeds_from_run(run_dir: Path, count_fast_gate: bool) -> list[Seed]:
    with RunStore.open_existing(run_dir) as store:
        problems = {p.id: p for p in store.problems()}
        meta = store.meta()
        out = []
        for s, v in store.samples():
            if v is None or not v.counted(count_fast_gate):
                continue
            p = problems.get(s.problem_id)
            if p is None:
                continue
            helpers, proof = seed_parts(s.body, p.formal_statement)
            out.append(Seed(s.id, p.id, s.header, _by_statement(p.formal_statement), proof, helpers, str(run_dir),
                            meta.get("served_model") or meta.get("model")))
    return out


def seeds_from_file(path: Path) -> list[Seed]:
    """JSONL of verified proofs: ``bridge export --proved`` rows, or problem rows with a ``proof``. A row
    carrying a verdict other than ``proved`` is left out."""
    out: list[Seed] = []
    errors: list[str] = []
    ids: dict[str, int] = {}
    for n, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad:
            errors.append(f"{path}:{n}: {bad}")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("formal_statement"), str) or not isinstance(row.get("proof"), str):
            errors.append(f"{path}:{n}: needs `formal_statement` and `proof`")
            continue
        if row.get("verdict") not in (None, "proved"):
            continue
        pid = str(row.get("problem_id") or row.get("id") or row.get("name") or f"{path.stem}_{n}")
        sid = str(row.get("sample_id") or pid)
        if sid in ids:
            ids[sid] += 1
            sid = f"{sid}#{ids[sid]}"
        else:
            ids[sid] = 0
        stmt = row["formal_statement"]
        proof = row["proof"]
        if not stmt.rstrip().endswith("by"):
            proof = re.sub(r"^\s*by\b", "", proof, count=1)
        out.append(Seed(sid, pid, row.get("header") or "import Mathlib\n", _by_statement(stmt), proof,
                        row.get("helpers") or "", str(path), row.get("model")))
    if errors:
        raise InputError(f"{path}: {len(errors)} malformed row(s); nothing was loaded:\n  " + "\n  ".join(errors[:20]),
                         "give `bridge export --proved` rows or problem rows with a `proof`")
    return out


def load_seeds(source: str, count_fast_gate: bool) -> list[Seed]:
    p = Path(source)
    if p.is_dir():
        return seeds_from_run(p, count_fast_gate)
    if p.is_file():
        return seeds_from_file(p)
    raise InputError(f"{source}: neither a run directory nor a file", "give a `bridge prove` run directory or a "
                     "JSONL of verified proofs (`bridge export RUN_DIR --proved`)")


# -- the run (I/O) ---------------------------------------------------------------------------------------


@dataclass
class ConjectureSettings:
    per_seed: int = 4  # conjectures asked per seed
    samples: int = 32  # proofs sampled per conjecture to measure its pass rate (STP's K)
    window: tuple[float, float] = DEFAULT_WINDOW
    lemma: str = STP_LEMMA
    params: SamplingParams = field(default_factory=SamplingParams)
    prover_params: SamplingParams = field(default_factory=SamplingParams)


def strict_status(mode: str, cfg: Any, checker: Any | None = None) -> tuple[bool, str | None]:
    """(use the kernel re-check, why not): ``require`` fails without the checker, ``auto`` uses it when
    it is there, ``off`` never."""
    if mode == "off":
        return False, "turned off (--no-strict)"
    if checker is None:
        from bridge.lean.project import repl_launch
        from bridge.verify.strict import StrictChecker

        checker = StrictChecker(cfg, repl_launch(cfg))
    ok_, why = checker.available()
    if not ok_ and mode == "require":
        raise SetupError(f"--strict was asked for, but the kernel checker is unavailable: {why}",
                         "run `bridge setup` (it builds bridge-check), or drop --strict")
    return ok_, None if ok_ else f"the kernel checker is unavailable: {why}"


class Synth:
    """One ``bridge synth`` run: propose, screen, verify, choose. ``make_verifier(strict)`` gives a
    verifier (a context manager); every verdict is stored, so a rerun verifies only what is missing."""

    def __init__(self, run_dir: Path, store: RunStore, methods: tuple[str, ...], make_verifier: Callable[[bool], Any],
                 against: dict[str, list[Problem]], ngram: int = 20, strict: tuple[bool, str | None] = (False, None),
                 count_fast_gate: bool = False, conjecture: ConjectureSettings | None = None,
                 conjecturer: Backend | None = None, prover: tuple[Backend, Any] | None = None,
                 log: Callable[[str], None] | None = None):
        self.dir = Path(run_dir)
        self.store = store
        with store.lock:
            store.db.executescript(VERDICTS_SCHEMA)
        self.methods = methods
        self.make_verifier = make_verifier
        self.against = against
        self.ngram = ngram
        self.strict = strict
        self.count_fast_gate = count_fast_gate
        self.cs = conjecture or ConjectureSettings()
        self.conjecturer = conjecturer
        self.prover = prover
        self.log = log or (lambda m: None)
        self.stopped = False
        self._stoppers: list[Callable[[], None]] = []
        self.skips: list[Skip] = []
        self.conjecture_report: dict[str, Any] = {}

    def stop(self) -> None:
        self.stopped = True
        for s in list(self._stoppers):
            s()

    # -- stored verdicts ----------------------------------------------------------------------------

    def verdicts(self) -> dict[str, Verdict]:
        rows = self.store.db.execute("SELECT item_id, data FROM synth_verdicts").fetchall()
        return {i: Verdict.from_json(json.loads(d)) for i, d in rows}

    def _add_verdict(self, item_id: str, v: Verdict) -> None:
        with self.store.lock:
            self.store.db.execute("INSERT OR IGNORE INTO synth_verdicts VALUES (?, ?, ?, ?)",
                                  (item_id, v.verdict, json.dumps(v.to_json(), ensure_ascii=False), time.time()))

    # -- the steps ----------------------------------------------------------------------------------

    def propose(self, seeds: list[Seed]) -> list[SynthItem]:
        items: list[SynthItem] = []
        for method in self.methods:
            if method == "conjecture":
                items += self.conjectures(seeds)
                continue
            fn = have_lift if method == "have-lift" else mutate
            for s in seeds:
                got, skips = fn(s)
                items += got
                self.skips += skips
        return items

    def run(self, seeds: list[Seed]) -> dict[str, Any]:
        """Everything up to the kept items; returns what the report and the output need."""
        items = self.propose(seeds)
        if self.stopped:
            return {}
        screened, dropped = screen_items(items, seeds, self.against, self.ngram)
        done = self.verdicts()
        todo = [it for it in screened if it.id not in done]
        if todo:
            self.log(f"verifying {len(todo)} synthetic item(s)" + (" (strict)" if self.strict[0] else ""))
            with self.make_verifier(self.strict[0]) as verifier:
                self._stoppers.append(verifier.stop)
                for v in verifier.verify([it.candidate() for it in todo]):
                    if v.rule == "setup":
                        raise SetupError(f"a seed's header does not elaborate: {v.reason}",
                                         "check the Lean project (bridge doctor)")
                    self._add_verdict(v.id, v)
                self._stoppers.remove(verifier.stop)
                if verifier.stopped:
                    self.stopped = True
        verdicts = self.verdicts()
        kept, why = choose(screened, verdicts, self.count_fast_gate)
        return {"items": items, "screened": screened, "dropped": dropped, "verdicts": verdicts, "kept": kept,
                "why": why}

    # -- conjecture ---------------------------------------------------------------------------------

    def conjectures(self, seeds: list[Seed]) -> list[SynthItem]:
        """Ask for conjectures, screen them cheaply (well formed, new, clean, elaborates), measure each
        one's pass rate with the prover, keep those in the window with their shortest proof."""
        assert self.conjecturer is not None and self.prover is not None, "conjecture needs a conjecturer and a prover"
        cs = self.cs
        with RunStore(self.dir / "conjectures") as cstore:
            results = FunnelStore(cstore)
            for s in seeds:
                if self.stopped:
                    return []
                have = cstore.sample_indices(s.id, 0)
                missing = [i for i in range(cs.per_seed) if i not in have]
                if not missing:
                    continue
                prompt = conjecture_prompt(cs.lemma, s.statement + s.proof)
                assert isinstance(prompt, str)
                params = dataclasses.replace(cs.params, seed=(cs.params.seed + zlib.crc32(s.id.encode()) + missing[0]) % 2**31)
                for i, text in zip(missing, self.conjecturer.generate(prompt, len(missing), params), strict=True):
                    stmt = conjecture_statement(text) or ""
                    cstore.add_sample(SampleRow(sample_id(s.id, 0, i), s.id, 0, i, text, s.header, stmt), prompt,
                                      params.to_json())
            by_seed = {s.id: (k, s) for k, s in enumerate(seeds)}
            rows = sorted(((r, by_seed[r.problem_id][1]) for r, _ in cstore.samples(round_=0) if r.problem_id in by_seed),
                          key=lambda rs: (by_seed[rs[0].problem_id][0], rs[0].idx))
            decided = results.results()
            seen = {dedupe_key(s.statement): f"seed {s.id}" for s in seeds}
            for r, _s in rows:  # earlier decisions first: a rerun sees the same duplicates
                res = decided.get(r.id, {})
                if res.get("unique") is not None and res["unique"].passed:
                    seen[dedupe_key(r.body)] = r.id
            lean_due: list[tuple[SampleRow, Seed]] = []
            for r, s in rows:
                res = decided.get(r.id, {})
                for stage in ("well_formed", "unique", "uncontaminated"):
                    if stage in res:
                        if not res[stage].passed:
                            break
                        continue
                    if stage == "well_formed":
                        out = (check_well_formed(r.body, r.header) if r.body
                               else no("well_formed", "no statement", "the completion holds no conjecture"))
                    elif stage == "unique":
                        out = check_unique(r.id, r.body, seen)
                    else:
                        out = check_uncontaminated(r.id, r.body, self.against, self.ngram)
                    results.add(r.id, out)
                    res[stage] = out
                    if not out.passed:
                        break
                else:
                    if "elaborates" not in res:
                        lean_due.append((r, s))
            if lean_due:
                with self.make_verifier(False) as verifier:
                    self._stoppers.append(verifier.stop)
                    cands = [lean_candidate("elaborates", r.id, r.body, r.header, ()) for r, _ in lean_due]
                    for v in verifier.verify([c for c in cands if isinstance(c, Candidate)]):
                        if v.rule == "setup":
                            raise SetupError(f"a seed's header does not elaborate: {v.reason}",
                                             "check the Lean project (bridge doctor)")
                        results.add(v.id.rsplit("#", 1)[0], lean_result("elaborates", v))
                    self._stoppers.remove(verifier.stop)
                    if verifier.stopped:
                        self.stopped = True
                        return []
            decided = results.results()
            alive = [(r, s) for r, s in rows if all(decided.get(r.id, {}).get(st) is not None and
                                                     decided[r.id][st].passed
                                                     for st in ("well_formed", "unique", "uncontaminated", "elaborates"))]
            stage_counts = {st: {"entered": sum(1 for r, _ in rows if st in decided.get(r.id, {})),
                                 "passed": sum(1 for r, _ in rows if st in decided.get(r.id, {}) and decided[r.id][st].passed)}
                            for st in ("well_formed", "unique", "uncontaminated", "elaborates")}
        items = self._attempt(alive, stage_counts, len(rows))
        return items

    def _attempt(self, alive: list[tuple[SampleRow, Seed]], stage_counts: dict[str, Any], generated: int) -> list[SynthItem]:
        from provers.pipeline import Pipeline, ProveSettings
        from provers.templates import extract

        assert self.prover is not None
        backend, family = self.prover
        cs = self.cs
        problems = [Problem(id=f"{r.id.replace('/', '~')}", split="train", header=r.header, formal_statement=r.body,
                            source=f"conjecture:{s.id}", name=lean_name(r.id)) for r, s in alive]
        parent = {p.id: (r, s) for p, (r, s) in zip(problems, alive, strict=True)}
        with RunStore(self.dir / "attempts") as astore:
            if problems:
                astore.set_meta({"dataset": "conjectures", "samples": cs.samples, "template": family.name,
                                 "sampling": cs.prover_params.to_json()})
                astore.add_problems(problems)
                with self.make_verifier(False) as verifier:
                    settings = ProveSettings(samples=cs.samples, params=cs.prover_params, chunk=cs.samples,
                                             count_fast_gate=self.count_fast_gate)
                    pipe = Pipeline(backend, family, verifier, astore, settings)
                    self._stoppers.append(pipe.stop)
                    pipe.run(problems)
                    self._stoppers.remove(pipe.stop)
                    if pipe.stopped:
                        self.stopped = True
                        return []
            counts = astore.counts(count_fast_gate=self.count_fast_gate)
            proofs: dict[str, tuple[str, str]] = {}
            for srow, v in astore.samples(round_=0):
                if v is None or not v.counted(self.count_fast_gate):
                    continue
                p = next((q for q in problems if q.id == srow.problem_id), None)
                if p is None:
                    continue
                c = extract(family, p, srow.completion, srow.id)
                _, proof = seed_parts(c.body, p.formal_statement)
                if srow.problem_id not in proofs or len(proof) < len(proofs[srow.problem_id][1]):
                    proofs[srow.problem_id] = (srow.id, proof)
        items: list[SynthItem] = []
        rates: dict[str, float] = {}
        for p in problems:
            n, c = counts.get(p.id, (0, 0))
            if n < cs.samples:
                continue
            rates[p.id] = c / n
            if in_window(c / n, cs.window) and p.id in proofs:
                r, s = parent[p.id]
                sid, proof = proofs[p.id]
                items.append(SynthItem(f"{s.id}~conj{r.idx}", "conjecture", s.id, r.header, r.body, proof, provenance={
                    "conjecture": r.id, "pass_rate": c / n, "samples": n, "proved": c, "proof_sample": sid,
                    "window": list(cs.window), "lemma": cs.lemma}))
        self.conjecture_report = {"generated": generated, "stages": stage_counts, "attempted": len(problems),
                                  "measured": len(rates), "in_window": len(items), "window": list(cs.window),
                                  "samples": cs.samples, "pass_rates": rates}
        return items


# -- the report (pure) -----------------------------------------------------------------------------------


def build_report(seeds: list[Seed], out: dict[str, Any], skips: list[Skip], strict: tuple[bool, str | None],
                 meta: dict[str, Any], conjecture: dict[str, Any]) -> dict[str, Any]:
    items: list[SynthItem] = out.get("items", [])
    screened = {it.id for it in out.get("screened", [])}
    kept = {it.id for it in out.get("kept", [])}
    dropped: dict[str, StageResult] = out.get("dropped", {})
    why: dict[str, str] = out.get("why", {})
    by_method = {}
    for m in meta.get("methods", []):
        mine = [it for it in items if it.method == m]
        reasons: dict[str, int] = {}
        for it in mine:
            if it.id in dropped:
                k = dropped[it.id].kind
            elif it.id in why:
                k = why[it.id].split(":")[0]
            else:
                continue
            reasons[k] = reasons.get(k, 0) + 1
        for s in skips:
            if s.method == m:
                reasons[f"not proposed: {s.kind}"] = reasons.get(f"not proposed: {s.kind}", 0) + 1
        n_kept = sum(1 for it in mine if it.id in kept)
        by_method[m] = {"proposed": len(mine), "screened": sum(1 for it in mine if it.id in screened),
                        "verified": n_kept, "kept": n_kept, "items_per_proof": n_kept / len(seeds) if seeds else None,
                        "dropped": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}
    sources: dict[str, dict[str, Any]] = {}
    for s in seeds:
        g = sources.setdefault(s.source or "input", {"seeds": 0, "items": 0})
        g["seeds"] += 1
    parent_src = {s.id: s.source or "input" for s in seeds}
    for it in out.get("kept", []):
        sources[parent_src.get(it.parent, "input")]["items"] += 1
    for g in sources.values():
        g["items_per_proof"] = g["items"] / g["seeds"] if g["seeds"] else None
    return {"kind": "synth", **meta, "seeds": len(seeds), "proposed": len(items), "kept": len(kept),
            "items_per_proof": len(kept) / len(seeds) if seeds else None, "strict": strict[0],
            "strict_reason": strict[1], "by_method": by_method, "by_source": sources, "conjecture": conjecture or None,
            "skipped": [dataclasses.asdict(s) for s in skips[:200]]}


def markdown(report: dict[str, Any]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    out = [f"# Synthetic theorems from {report.get('source')}", "",
           f"- {report['seeds']} verified proof(s) -> {report['kept']} verified synthetic item(s) "
           f"({f(report['items_per_proof'])} per proof); methods: {', '.join(report.get('methods', []))}",
           f"- re-verified by the gate; strict kernel re-check: "
           f"{'yes' if report['strict'] else 'no (' + str(report['strict_reason']) + ')'}",
           f"- decontamination against: {', '.join(report.get('decontam') or []) or 'none'}", "",
           "| method | proposed | passed screening | kept (verified) | items per proof | dropped because |",
           "|---|---:|---:|---:|---:|---|"]
    for m, g in report["by_method"].items():
        why = "; ".join(f"{k} ({v})" for k, v in list(g["dropped"].items())[:5])
        out.append(f"| {m} | {g['proposed']} | {g['screened']} | {g['kept']} | {f(g['items_per_proof'])} | {why} |")
    out += ["", "| source | verified proofs | items | items per proof |", "|---|---:|---:|---:|"]
    for src, g in report["by_source"].items():
        out.append(f"| {src} | {g['seeds']} | {g['items']} | {f(g['items_per_proof'])} |")
    c = report.get("conjecture")
    if c:
        out += ["", f"Conjectures: {c['generated']} generated; " + ", ".join(
            f"{k} {v['passed']}/{v['entered']}" for k, v in c["stages"].items())
            + f"; {c['measured']} measured with {c['samples']} samples; {c['in_window']} with a pass rate in "
            f"({c['window'][0]}, {c['window'][1]}]"]
    return "\n".join(out) + "\n"



# -- one run ----------------------------------------------------------------------------------------------

FIXED = ("kind", "source", "methods", "limit", "decontam", "ngram", "conjecture_settings")


@dataclass
class SynthOutcome:
    rows: list[dict[str, Any]]  # synthetic.jsonl
    report: dict[str, Any]
    stopped: bool


def synth_into(synth: Synth, seeds: list[Seed], meta: dict[str, Any]) -> SynthOutcome:
    """``bridge synth`` with a Synth over a store whose meta is set: the items, their rows and the report.
    A stopped run has neither: the same call again goes on."""
    out = synth.run(seeds)
    if synth.stopped:
        return SynthOutcome([], {}, True)
    report = build_report(seeds, out, synth.skips, synth.strict, meta, synth.conjecture_report)
    rows = [item_row(it, out["verdicts"][it.id], synth.strict[0], meta) for it in out["kept"]]
    return SynthOutcome(rows, report, False)


def write_outputs(run_dir: Path, out: SynthOutcome, dest: Path | None = None) -> list[Path]:
    """synthetic.jsonl (or ``dest``), report.json and report.md, each written whole or not at all."""
    from provers.formalize.funnel import write_jsonl

    run_dir = Path(run_dir)
    dest = Path(dest) if dest else run_dir / "synthetic.jsonl"
    write_jsonl(dest, out.rows)
    paths = [dest]
    for name, text in (("report.json", json.dumps(out.report, indent=1, ensure_ascii=False)),
                       ("report.md", markdown(out.report))):
        tmp = run_dir / (name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(run_dir / name)
        paths.append(run_dir / name)
    return paths
