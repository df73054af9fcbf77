"""The formalizer prompts (the published formats where there are any), reading a statement out of each
family's answer, the judge's vote, and the pure pieces of the funnel's stages."""

from __future__ import annotations

import pytest

from bridge.verify.verdict import Verdict
from provers.formalize.prompts import (
    DEFAULT_HEADER,
    FORMALIZERS,
    backtranslation_prompt,
    conjecture_statement,
    extract_statement,
    formalization_prompt,
    formalizer_for,
    informal_text,
    judge_prompt,
    parse_vote,
)
from provers.formalize.stages import (
    check_unique,
    check_well_formed,
    lean_candidate,
    lean_result,
    parse_rule,
    tally,
)
from provers.formalize.statement import balanced, parse_statement, top_form


def test_goedel_formalizer_v2_prompt_is_the_model_cards() -> None:
    msgs = formalization_prompt(FORMALIZERS["goedel-formalizer-v2"], "Prove that 3 cannot be written as the sum of two cubes.",
                                "test_problem", DEFAULT_HEADER)
    # the card's f-strings, concatenated as it does (no line break before "Think")
    assert msgs == [{"role": "user", "content":
                     "Please autoformalize the following natural language problem statement in Lean 4. "
                     "Use the following theorem name: test_problem\nThe natural language statement is: \n"
                     "Prove that 3 cannot be written as the sum of two cubes.Think before you provide the lean statement."}]


def test_kimina_autoformalizer_prompt_and_answer() -> None:
    f = FORMALIZERS["kimina-autoformalizer"]
    msgs = formalization_prompt(f, informal_text("Find the least n with n! > 100.", "5"), "my_favorite_theorem",
                                DEFAULT_HEADER)
    assert msgs[0] == {"role": "system", "content": "You are an expert in mathematics and Lean 4."}
    assert msgs[1]["content"] == ("Please autoformalize the following problem in Lean 4 with a header. Use the following "
                                  "theorem names: my_favorite_theorem.\n\nFind the least n with n! > 100. The answer is 5.")
    answer = ("```lean4\nimport Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat "
              "Topology Rat Finset\n\n/-- the least n -/\ntheorem my_favorite_theorem : IsLeast {n : ℕ | n ! > 100} 5 := by "
              "sorry\n```")
    ex = extract_statement(f, answer, "my_favorite_theorem", DEFAULT_HEADER)
    # the run's header is used; a namespace the model opened and the header does not stays, as `open ... in`
    assert ex.statement == "open Finset in\ntheorem my_favorite_theorem : IsLeast {n : ℕ | n ! > 100} 5 := by"
    assert not ex.had_proof and ex.other_declarations == ()


def test_deepseek_completion_continues_the_theorem() -> None:
    f = FORMALIZERS["deepseek-completion"]
    prompt = formalization_prompt(f, "Show that n + 0 = n.", "p1", "import Mathlib\n")
    assert isinstance(prompt, str) and prompt.endswith("```lean4\nimport Mathlib\n/-- Show that n + 0 = n. -/\ntheorem p1")
    ex = extract_statement(f, " (n : ℕ) : n + 0 = n := by\n  simp\n```\nmore text", "p1", "import Mathlib\n")
    assert ex.statement == "theorem p1 (n : ℕ) : n + 0 = n := by" and ex.had_proof


def test_extraction_failures_and_extra_declarations() -> None:
    f = FORMALIZERS["goedel-formalizer-v2"]
    assert extract_statement(f, "<think>no idea</think> I cannot.", "p", DEFAULT_HEADER).statement is None
    ex = extract_statement(f, "```lean4\ndef sq (x : ℕ) := x * x\ntheorem p : sq 2 = 4 := by sorry\n```", "p", DEFAULT_HEADER)
    assert ex.statement == "theorem p : sq 2 = 4 := by" and ex.other_declarations == ("def sq",)
    assert check_well_formed(ex.statement, DEFAULT_HEADER, ex.other_declarations).kind == "more than one declaration"
    # the last block is the answer (the card's extract_code takes the last match)
    two = "```lean4\ntheorem p : 1 = 2 := by sorry\n```\nBetter:\n```lean4\ntheorem p : 1 = 1 := by sorry\n```"
    assert extract_statement(f, two, "p", DEFAULT_HEADER).statement == "theorem p : 1 = 1 := by"


def test_formalizer_chosen_from_the_model_name() -> None:
    assert formalizer_for("AI-MO/Kimina-Autoformalizer-7B").name == "kimina-autoformalizer"
    assert formalizer_for("Goedel-LM/Goedel-Formalizer-V2-32B").name == "goedel-formalizer-v2"
    assert formalizer_for("deepseek-ai/DeepSeek-Prover-V1.5-Base").name == "deepseek-completion"
    assert formalizer_for("some/instruct-model").name == "goedel-formalizer-v2"
    assert formalizer_for("x", "deepseek-completion").mode == "completion"
    with pytest.raises(Exception, match="unknown formalizer template"):
        formalizer_for("x", "nope")


def test_judge_and_back_translation_prompts() -> None:
    bt = backtranslation_prompt("theorem t (x : ℝ) : x ^ 2 ≥ 0 := by", DEFAULT_HEADER)
    assert "informal" not in bt[1]["content"].lower() and "theorem t (x : ℝ) : x ^ 2 ≥ 0 := by sorry" in bt[1]["content"]
    j = judge_prompt("Squares are nonnegative.", "theorem t (x : ℝ) : x ^ 2 ≥ 0 := by", "<think>..</think>For real x, x² ≥ 0.")
    text = j[1]["content"]
    assert "Squares are nonnegative." in text and "For real x, x² ≥ 0." in text and "<think>" not in text
    assert text.rstrip().endswith("YES or NO.")


def test_votes() -> None:
    assert parse_vote("It matches.\nYES") is True
    assert parse_vote("<think>maybe YES</think>The domain differs. NO") is False
    assert parse_vote("Yes, but no: the verdict is yes") is True  # the last word counts
    assert parse_vote("I am not sure.") is None
    assert tally([True, True, True], "unanimous")[0] and not tally([True, True, None], "unanimous")[0]
    assert tally([True, False, True], "majority")[0] and not tally([True, False, None], "majority")[0]
    assert tally([True, False, False], "1")[0] and not tally([], "1")[0]
    assert parse_rule("Majority") == "majority" and parse_rule("2") == "2"
    with pytest.raises(ValueError):
        parse_rule("most")


def test_statement_reading() -> None:
    st = parse_statement("theorem t {α : Type*} [Fintype α] (a b : ℕ)\n    (h : a < b) : a ≤ b ∧ b ≠ 0 := by")
    assert st is not None and [b.names for b in st.binders] == [("α",), (), ("a", "b"), ("h",)]
    assert st.conclusion == "a ≤ b ∧ b ≠ 0" and st.binders[3].is_hypothesis_like and not st.binders[2].is_hypothesis_like
    assert top_form("a ≤ b ∧ b ≠ 0").op == "∧" and top_form("¬ a = b") is None and top_form("a < b < c") is None
    assert top_form("(a ↔ b)").op == "↔" and top_form("∃ x, x = 1") is None
    assert balanced("(a [b] {c})") and not balanced("(a [b)]") and balanced("-- (\n(x)")
    assert parse_statement("def f : ℕ := 1") is None and parse_statement("theorem t (x : ℕ) x = x := by") is None


def test_budget_candidates_and_verdicts() -> None:
    st = "theorem t (x : ℕ) (h : 0 < x) : 0 < x ^ 2 := by"
    cons = lean_candidate("consistent", "p/0/0", st, DEFAULT_HEADER, ("simp_all", "omega"))
    assert cons.body == ("theorem bridge_consistency (x : ℕ) (h : 0 < x) :\n    False := by\n"
                         "  first | (simp_all; done) | (omega; done)\n")
    neg = lean_candidate("negation_unproved", "p/0/0", st, DEFAULT_HEADER, ("omega",))
    assert "¬ (∀ (x : ℕ) (h : 0 < x), 0 < x ^ 2)" in neg.body and neg.body.endswith("  first | (omega; done) | (push_neg; first | (omega; done))\n")
    elab = lean_candidate("elaborates", "p/0/0", st, DEFAULT_HEADER, ())
    assert elab.statement.endswith("\n  sorry\n") and elab.proof == "" and elab.name == "t"
    assert lean_candidate("consistent", "q", "theorem q : 1 = 1 := by", DEFAULT_HEADER, ("omega",)).passed
    proved = Verdict(id="x#consistent", verdict="proved")
    assert lean_result("consistent", proved).kind == "contradictory hypotheses"
    failed = Verdict(id="x", verdict="failed", reason="Lean reported 1 error(s); first: line 3: linarith failed")
    assert lean_result("nontrivial", failed).passed
    crashed = Verdict(id="x", verdict="crashed", reason="the REPL failed on 2 worker(s)")
    assert not lean_result("negation_unproved", crashed).passed  # a check that could not be made drops it
    sorry = Verdict(id="x", verdict="incomplete", reason="the proof contains 1 `sorry`",
                    messages=[{"severity": "warning", "data": "declaration uses 'sorry'"}])
    assert lean_result("elaborates", sorry).passed
    unsolved = Verdict(id="x", verdict="incomplete", reason="unsolved goals: ...", messages=[{"severity": "error", "data": "unsolved goals"}])
    assert not lean_result("elaborates", unsolved).passed


def test_unique_is_up_to_names() -> None:
    seen: dict[str, str] = {}
    assert check_unique("a", "theorem a (x : ℕ) (h : 0 < x) : x ≠ 0 := by", seen).passed
    r = check_unique("b", "theorem b (y : ℕ) (hy : 0 < y) : y ≠ 0 := by", seen)
    assert not r.passed and r.data["duplicate_of"] == "a"
    assert check_unique("c", "theorem c (y : ℤ) (hy : 0 < y) : y ≠ 0 := by", seen).passed


def test_stp_conjecture_reading() -> None:
    assert conjecture_statement(" foo (x : ℕ) : x + 0 = x := by\n  simp\n</hard theorem>") == \
        "theorem foo (x : ℕ) : x + 0 = x := by"
    assert conjecture_statement("</hard theorem>") is None
