"""``have-lift``: every ``have h : T := by tac`` of a proof as a theorem of its own (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.verify.lean_text import mask
from provers.formalize.statement import (
    Statement,
    identifiers,
    lean_name,
    parse_statement,
)
from provers.synth.common import (
    Seed,
    Skip,
    SynthItem,
    helper_names,
    indent_of,
    indented,
    names_used,
    tactic_lines,
)

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
        bad = names_used(proof + lh.type, helpers)
        if bad:
            skips.append(Skip(seed.id, "have-lift", "uses a helper lemma",
                              f"`have {lh.name}` uses the proof's helper lemma(s) {', '.join(bad)}"))
            continue
        group = f"{seed.id}~have{k}"
        iid = group + ("" if lh.variant == "used" else "~all")
        items.append(SynthItem(iid, "have-lift", seed.id, seed.header, statement, proof, group=group, provenance={
            "have": lh.name, "line": lh.line + 1, "variant": lh.variant, "hypotheses": list(lh.binders)}))
    return items, skips
