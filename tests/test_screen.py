"""The screen's fast path never passes what the exact path (the ported lexer) refuses, and both agree
with the allow-list on hand-written cases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.verify.screen import passes_fast, screen_exact, screen_text

_NUMBER_ERROR = "number"  # "missing exponent digits in scientific literal", "expected binary number"...

FRAGMENTS = [
    # honest pieces
    "nlinarith [sq_nonneg (a - b)]", "omega", "simp only [Finset.sum_range_succ] at h ⊢", "h₁'", "x''", "α", "ℝ",
    "have h : x = 2 := by", "exact h", ":=", "fun x => x", "⟨_, _⟩", "(", ")", "[", "]", "{", "}", "a - b", "-",
    "Nat.succ_le_iff", "theorem t : True := trivial", "def f (n : ℕ) : ℕ := n", "decide", "calc", "_ = 5",
    "∑ i in Finset.range n, f i", "2", "0x1F", "x.1", "h.2", "@Nat.add_comm", "by_contra h", "push_neg at h",
    # what the screen has rules about
    "sorry", "admit", "sorryAx", "Lean.ofReduceBool", "native_decide", "instance", "end", "open", "open Nat in",
    "open Nat", "set_option maxHeartbeats 400000 in", "set_option pp.all true in", "@[simp]", "@[instance]",
    "#eval", "#check", "IO.println", "_root_.Lean", "noncomputable", "noncomputable def", "by_elab", "run_tac",
    "local", "«sorryAx»", "«x»", "`x", "`(tactic| rfl)", "s!", "m!", "throwError", "r", "#",
    # how text is delimited
    "--", "-- sorry", "-- end of the instance", "/-", "-/", "/- sorry -/", "/- a /- b -/ c -/", "/-- doc -/",
    '"', '"sorry"', '"a -- b"', '"\\""', '"\\\\"', '"\\q"', 'r"\\"', 'r#"a"b"#', 's!"{x}"', 's!"{sorry}"',
    "!", "?", "2!", "h!", "!2", "₂", "calcα", "calc.x", "/--/", '"a\\\n \n b"', "'", "'a'", "'\"'", "'\\''", "2'", ")'", "'\\n'", "\\",
    " ", " ", "  ", "\n", "\n  ", "\r\n", "\r", "\t", "\u00a0", "\ufeff",
]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14), st.lists(st.sampled_from(["", " ", "\n"]),
                                                                               min_size=14, max_size=14))
def test_the_fast_path_never_passes_what_the_exact_path_refuses(parts: list[str], seps: list[str]) -> None:
    text = "".join(p + s for p, s in zip(parts, seps, strict=False))
    if passes_fast(text):
        exact = screen_exact(text)
        # One difference is allowed: a malformed number (`5end`, `0b2`) is an error for Lean, which the
        # exact lexer refuses and the fast path does not look for; Lean's recovery then reads the rest
        # plainly, the way the fast path read it, so nothing the fast path passed was hidden from it.
        assert exact is None or (exact[0] == "lex" and _NUMBER_ERROR in exact[1]), (text, exact)


@pytest.mark.parametrize("text", [
    "  nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]\n",
    "  -- by AM-GM; in the end the instance is local\n  omega\n",
    "  /- a long remark: sorry is not used, nor admit,\n     nor an axiom -/\n  decide\n",
    "  have h' : x = 2 := by omega\n  exact h'\n",
    "  simp only [Finset.sum_range_succ, mul_comm] at h₁ ⊢\n  linarith\n",
    '  have : ("sorry" : String).length = 5 := by decide\n  omega\n',
])
def test_honest_proofs_take_the_fast_path(text: str) -> None:
    assert passes_fast(text) and screen_exact(text) is None


@pytest.mark.parametrize("text,rule", [
    ("  sorry", "sorry"), ("  exact Lean.ofReduceBool _ _ rfl", "trust_compiler"),
    ('  -- "\n  sorry -- "', "sorry"),                      # a quote in a comment opens no string
    ('def s := "a -- b"\ntheorem x : True := by sorry\ndef t := "c"\n', "sorry"),
    ("/- note -- -/ sorry\n-/", "sorry"),                   # `--` inside a block comment is not a comment
    ('def s := r"\\"\n  sorry -- "', "sorry"),              # a raw string has no escapes
    ("def «/-» := 1\n  sorry\n  -- «-/»", "sorry"),
    ('def s := s!"{by_elab pure ()}"', "eval"),
    ("open Lean in\ndef x := 0", "environment"), ("@[csimp] theorem t : True := trivial", "implemented_by"),
    ("  x := 1 --sorry\n", None), ("a <--b sorry", "lex"),
    ("  exact 2!sorry", "sorry"), ("  exact 2?sorry", "sorry"), ("  exact 2sorry", "sorry"),  # a number, then more
    ("  exact h!sorry", None),                              # one identifier: `!` continues a name
])
def test_both_paths_give_the_same_rule(text: str, rule: str | None) -> None:
    got = screen_text(text)
    assert (got[0] if got else None) == rule, got
    assert passes_fast(text) == (rule is None) or not passes_fast(text)


# what a wider fuzz adds to FRAGMENTS: names, symbols, literals and escapes glued every way
WIDER = ["«", "»", "«sorry»", 'r#"', '"#', 's!"{', '}"', 'm!"', "\\", "'\\x41'", "'\\u0041'", "0b", "0o", "1.5", ".", "..",
         "α'", "h₁'", "x'", "''", "!", "?", "?_", "2", "e", "x", "_", "Lean", "IO", "by_elab", "run_tac", "#eval", "@[", "]",
         "⟨", "⟩", "/--", ":=", "theorem", "def", "in", "end", "calc", "ℝ", "₂", "ᵢ", "λ", "Π", "\\n", "\\\n", "\\\n  ",
         "`(", "``", "@", "¬", "→", "x.1", "1e", "0x", "2_000", "!sorry", "?sorry", "2!", "2_", "h!", "/", "-"]


def test_a_wide_seeded_fuzz_finds_no_difference() -> None:
    import random

    rng = random.Random(20261202)
    alphabet = FRAGMENTS + WIDER
    for _ in range(60_000):
        text = "".join(rng.choice(alphabet) + rng.choice(["", "", "", " ", "\n"]) for _ in range(rng.randint(1, 10)))
        if passes_fast(text):
            exact = screen_exact(text)
            assert exact is None or (exact[0] == "lex" and _NUMBER_ERROR in exact[1]), (text, exact)


# found by a wider fuzz of the fast path against the exact one (each was passed by the fast path once)
@pytest.mark.parametrize("text,rule", [
    ("  exact -₂'\\n'", "lex"),                 # a quote after a subscript that begins no identifier
    ("/--/\ntheorem t : True := trivial\n", "lex"),  # `/--` opens a doc comment: `-/` cannot close it there
    ("calcα\n", "command"), ("calc₂ x\n", "command"),  # a column-0 word is read whole, non-ASCII included
    ("calc.x\n", "command"), ("theorem.fun x => x", "command"),  # and dotted
    ("  exact !2sorry", "sorry"), ("  exact ?2IO", "environment"), ("  exact !2!Lean", "environment"),
    ('  exact "ab\\\n \n cd"', "lex"),            # a string gap holds one newline
    ("!'a'", None), ("  exact ?'a'", None),         # a char literal after `!`/`?`: no prime, Lean decides
])
def test_what_the_fast_path_leaves_to_the_exact_one(text: str, rule: str | None) -> None:
    exact = screen_exact(text)
    assert not passes_fast(text) and (exact[0] if exact else None) == rule, exact


@pytest.mark.parametrize("text", [
    "/- " + "a" * 200_000 + " /- x",                # a block comment that never closes, nested
    '"' + "\\n" * 100_000 + "x",                    # a string that never closes, full of escapes
    "-- x\n" * 50_000, "(" * 50_000 + ")" * 50_000, "a - " * 50_000,
])
def test_pathological_texts_are_screened_in_linear_time(text: str) -> None:
    """No regular expression of the screen backtracks exponentially (this would hang, not fail)."""
    passes_fast(text)
    screen_text(text)
