"""``mutate``: Alchemy-style rewrites of a statement with library lemmas (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from provers.formalize.statement import (
    Statement,
    TopForm,
    lean_name,
    operand,
    parse_statement,
    top_form,
)
from provers.synth.common import Seed, Skip, SynthItem, helper_names, indented, names_used, tactic_lines

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
    bad = names_used("\n".join(lines), helper_names(seed.helpers))
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
