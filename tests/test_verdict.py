"""Pure decisions on real REPL answers: the verdict a command response forces, in both Lean wordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.lean.protocol import CommandResponse, Message, Pos, loads, parse_response, split_stream
from bridge.verify import soundness
from bridge.verify.candidate import from_parts
from bridge.verify.verdict import Verdict, classify_body


def answers(d: Path, name: str) -> list:
    return [parse_response(loads(c)) for c in split_stream((d / f"{name}.expected.out").read_text(encoding="utf-8"))]


@pytest.mark.parametrize("name,idx,want", [
    ("term_sorry", 0, "incomplete"), ("tactic_sorry", 0, "incomplete"), ("readme", 0, "incomplete"),
    ("have_by_sorry", 0, "incomplete"),  # unsolved goals + sorry: all errors are unsolved goals
    ("invalid_line_break", 0, "failed"), ("invalid_line_break", 1, "failed"),
    ("line_breaks", 0, "failed"), ("line_breaks", 1, "incomplete"), ("line_breaks", 2, None),
    ("self_proof_check", 0, "failed"), ("self_proof_exact_check", 0, "failed"),
    ("synthesize_placeholder", 0, "failed"), ("no_goal_sorry", 0, "failed"), ("dup_msg", 2, "failed"),
    ("dup_msg", 1, None), ("def_eval", 0, None), ("calc", 0, "incomplete"), ("root_goals", 0, "incomplete"),
    ("file_env", 1, None), ("variables", 2, "incomplete"),
])
def test_classify_real_answers(transcripts: Path, name: str, idx: int, want: str | None) -> None:
    r = answers(transcripts, name)[idx]
    assert isinstance(r, CommandResponse)
    got = classify_body(r)
    assert (got[0] if got else None) == want, got


def test_every_command_answer_gets_a_decision(transcripts: Path) -> None:
    n = 0
    for out in transcripts.glob("*.expected.out"):
        for r in answers(transcripts, out.name.removesuffix(".expected.out")):
            if isinstance(r, CommandResponse):
                got = classify_body(r)
                assert got is None or got[0] in ("failed", "incomplete")
                n += 1
    assert n > 40


def _warning(text: str) -> CommandResponse:
    return CommandResponse(env=1, messages=[Message("warning", text, Pos(1, 8), Pos(1, 12))])


@pytest.mark.parametrize("text", ["declaration uses 'sorry'", "declaration uses `sorry`"])
def test_sorry_warning_in_both_lean_versions(text: str) -> None:
    # a REPL that omits the `sorries` field still cannot get a sorry past the message check
    assert classify_body(_warning(text)) == ("incomplete", "the proof contains a `sorry` (line 1: " + text + ")")


@pytest.mark.parametrize("text", [
    "(deterministic) timeout at whnf, maximum number of heartbeats (200000) has been reached (use "
    "'set_option maxHeartbeats <num>' to set the limit)",
    "(deterministic) timeout at `whnf`, maximum number of heartbeats (200000) has been reached\n\nNote: Use "
    "`set_option maxHeartbeats <num>` to set the limit.",
])
def test_heartbeats_in_both_wordings(text: str) -> None:
    r = CommandResponse(env=1, messages=[Message("error", text, Pos(1, 0), Pos(1, 7))])
    got = classify_body(r)
    assert got and got[0] == "failed" and "heartbeat" in got[1]


def test_sorries_field_wins_without_any_message() -> None:
    from bridge.lean.protocol import Sorry

    r = CommandResponse(env=0, sorries=[Sorry(goal="⊢ False", proof_state=0)])
    assert classify_body(r)[0] == "incomplete"


@pytest.mark.parametrize("data,axioms", [
    ("'foo' depends on axioms: [propext, Classical.choice, Quot.sound]", ["propext", "Classical.choice", "Quot.sound"]),
    ("'foo' depends on axioms: [propext,\n sorryAx]", ["propext", "sorryAx"]),
    ("'foo' does not depend on any axioms", []),
])
def test_parse_print_axioms(data: str, axioms: list[str]) -> None:
    r = CommandResponse(env=2, messages=[Message("info", data, Pos(1, 0), Pos(1, 13))])
    assert soundness.parse_axioms(r) == axioms


def test_rules_are_pure_functions() -> None:
    c = from_parts("x", None, "theorem foo : True := by\n", "  trivial")
    ax = CommandResponse(env=3, messages=[Message("info", "'foo' depends on axioms: [propext, my_axiom]"),
                                          Message("info", "@foo : True")])
    ref = CommandResponse(env=2, messages=[Message("info", "'foo' depends on axioms: [sorryAx]"),
                                           Message("info", "@foo : True")])
    body = CommandResponse(env=2)
    opts = soundness.GateOptions()
    assert soundness.judge(c, body, ax, ref, opts).rule == "axioms"
    ok = CommandResponse(env=3, messages=[Message("info", "'foo' depends on axioms: [propext]"), Message("info", "@foo : True")])
    assert soundness.judge(c, body, ok, ref, opts) is None
    other = CommandResponse(env=3, messages=[Message("info", "'foo' does not depend on any axioms"),
                                             Message("info", "@foo : False")])
    assert soundness.judge(c, body, other, ref, opts).rule == "statement"


def test_verdict_requires_a_reason_unless_proved() -> None:
    with pytest.raises(ValueError):
        Verdict(id="a", verdict="failed")
    with pytest.raises(ValueError):
        Verdict(id="a", verdict="maybe", reason="x")
    assert Verdict(id="a", verdict="proved").to_json()["reason"] is None
