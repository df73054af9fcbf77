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
    "lcProof", "Quot.lcInv", "binop%", "binop", "%", "x%2", "clear%", "recall", "count_heartbeats in", "/- c -/ ",
    "@[simps]", "@[simps (config := t)]", "aesop (add unsafe 50% apply foo)", ", unsafe", "corpus_cmd",
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


# -- issue 25: the header allow-list, the screen's rules ---------------------------------------------
from bridge.verify.candidate import (  # noqa: E402
    from_code,
    from_parts,
    merge_header,
    split_header,
    with_reference_statement,
)
from bridge.verify.screen import screen, screen_header  # noqa: E402

MINIF2F_HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen BigOperators Real Nat Topology Rat\n\n"


@pytest.mark.parametrize("text", [
    MINIF2F_HEADER, "import Mathlib\nopen scoped BigOperators Topology\n", "-- a prover's header\nimport Mathlib\n",
    "/-\n  Copyright: none.\n-/\nimport Mathlib\n", "universe u v\n", "set_option linter.unusedVariables false\n",
    "set_option maxHeartbeats 0 -- no limit\n", "set_option autoImplicit false\n",
    # red team's false rejects: a hidden or explicit name list (sent to Lean escaped, see below)
    "open Nat hiding add_comm\n", "open Nat hiding add_comm mul_comm\n", "open Nat (succ_le_iff le_of_lt_succ)\n",
    "open Real (pi)\n", "open Finset hiding «sum»\n",
    # and more of them: Mathlib namespaces that start lowercase (sent escaped), push_neg's option, a name
    # list continued on an indented line
    "open intervalIntegral\n", "open scoped symmDiff nonZeroDivisors\n",
    "open ArithmeticFunction\nopen scoped ArithmeticFunction.sigma\n", "set_option push_neg.use_distrib true\n",
    "open Nat hiding add_comm\n  mul_comm\n",
])
def test_honest_model_headers_pass_the_header_allow_list(text: str) -> None:
    assert screen_header(text) is None


@pytest.mark.parametrize("text", [
    "open Nat in axiom corpus_ax : False\n", "set_option debug.skipKernelTC true\n",
    "set_option maxHeartbeats 400000 in #eval 1\n", "set_option maxHeartbeats 400000 in\n",
    "/- c -/ set_option debug.skipKernelTC true\n", "import Lean\n", "import Corpus.Evil\n", "import «Mathlib»\n",
    "import runtime Mathlib\n", "import Mathlib open Nat\n", "open Lean Elab\n", "open Lean hiding a\n",
    "open Lean.Elab (a)\n", "open Nat Real hiding a\n", "open scoped Nat hiding a\n", "open Nat hiding\n",
    "open Nat (a\n", "open Nat ()\n", "open «Lean»\n", "open Nat in\n", "open Nat variable\n",
    "open Nat\n  /- c -/ set_option debug.skipKernelTC true\n", "open Nat\n\tset_option debug.skipKernelTC true\n", "open Nat hiding a (b)\n", "open Nat hiding a → b\n", "open Nat (a) b\n",
    "open Nat renaming add_comm → ac\n", "open\n", "set_option maxHeartbeats \"4\"\n", "set_option pp.all true\n",
    "macro_rules | `(tactic| omega) => `(tactic| sorry)\n", "@[simp] theorem x : True := trivial\n",
    "import Mathlib\n#exit\n", "set_option trace.profiler.output \"x\"\n", "universe Lean.u\n", "import Mathlib /- x\n",
    'import Mathlib "x"\n', "import\nMathlib\n",
    # red team: keywords lex as identifiers, so a second command hid among opened names or universes
    "open Nat set_option debug.skipKernelTC true\n", "set_option autoImplicit true\n", "open Nat namespace Foo\n", "open Type\n",
    "universe u set_option autoImplicit true\n", "universe u open Lean Elab Command Meta\n", "universe «u\"»\n",
])
def test_model_header_cheats_are_refused(text: str) -> None:
    got = screen_header(text)
    assert got is not None and got[0] == "header", got


def test_the_header_a_model_wrote_is_screened_in_every_free_form() -> None:
    code = "set_option debug.skipKernelTC true\n\ntheorem t : True := trivial\n"
    for c in (from_code("a", None, code), from_code("b", "import Mathlib", code)):
        hit = screen(c)
        assert hit is not None and hit.rule == "header" and hit.region == "header", hit
        assert "line 1 of the model's own header" in hit.reason(c.body)


def test_a_code_row_that_repeats_its_header_is_checked_under_that_header() -> None:
    c = from_code("r", MINIF2F_HEADER, MINIF2F_HEADER + "theorem t : 1 + 1 = 2 := by norm_num\n")
    assert c.header == MINIF2F_HEADER and c.body.startswith("theorem t") and screen(c) is None
    # a line of its own is added: imports first, the rest after the given header, comments dropped
    c = from_code("s", "import Mathlib\n", "import Aesop\nopen Real -- for π\n\ntheorem t : True := trivial\n")
    assert c.header == "import Aesop\nimport Mathlib\nopen Real\n" and screen(c) is None


@pytest.mark.parametrize("own", [
    'universe «u"»\n-- " open Nat » set_option debug.skipKernelTC true\n',
    "universe «v/-»\n-- -/ open Nat » set_option debug.skipKernelTC true\n",
    'universe «u"»\n-- " import Lean.Elab.Cheat\nuniverse «v»\n',
])
def test_the_header_lean_gets_is_rebuilt_from_the_tokens_the_screen_judged(own: str) -> None:
    """Red team: a header rebuilt from another reading of the text (a mask blind to «») sent Lean a
    comment's smuggled commands. Now every added line is the lexer's tokens of a line the screen saw."""
    from bridge.verify.lexer import code_lines

    assert screen_header(own) is not None
    judged = {" ".join(t.text for t in line) for line in code_lines(own)}
    for row_header in ("import Mathlib\n", None):
        merged = merge_header(row_header, own)
        assert "skipKernelTC" not in merged and "Cheat" not in merged, merged
        added = set(merged.splitlines()) - {"import Mathlib", ""}
        assert added <= judged, (added, judged)


@pytest.mark.parametrize("own,sent", [
    ("open Nat hiding add_comm h₀\n", "open Nat hiding «add_comm» «h₀»"),
    ("open Nat (succ_le_iff Nat.«x»)\n", "open Nat («succ_le_iff» «Nat».«x»)"),
    # a keyword of Mathlib's token table in the list would end it and start a second command; escaped,
    # it is only a name (that Nat lacks: Lean's error, a failed header, never a second command)
    ("open Nat hiding a set_option debug.skipKernelTC true\n",
     "open Nat hiding «a» «set_option» «debug».«skipKernelTC» «true»"),
    ("open Nat (a irreducible_def b)\n", "open Nat («a» «irreducible_def» «b»)"),
])
def test_a_name_list_of_open_is_sent_escaped(own: str, sent: str) -> None:
    assert screen_header(own) is None
    merged = merge_header("import Mathlib\n", own)
    assert merged == "import Mathlib\n" + sent + "\n"
    from bridge.verify.lexer import code_lines

    # every name Lean reads in that list is one escaped identifier token, so none is a keyword
    line = code_lines(sent)[0]
    listed = [t for t in line[3:] if t.kind == "ident"]
    assert listed and all(t.text.startswith("«") and t.text.endswith("»") for t in listed)


@pytest.mark.parametrize("own,sent", [
    ("open intervalIntegral\n", "open «intervalIntegral»"),
    ("open scoped ArithmeticFunction.sigma Real\n", "open scoped «ArithmeticFunction».«sigma» Real"),
    ("open Nat hiding add_comm\n  mul_comm\n", "open Nat hiding «add_comm» «mul_comm»"),
    ("open Nat\n  foo_bar\n", "open Nat «foo_bar»"),  # Lean reads the indented line as more names too
])
def test_opened_names_that_could_be_keywords_are_sent_escaped(own: str, sent: str) -> None:
    assert screen_header(own) is None
    assert merge_header("import Mathlib\n", own) == "import Mathlib\n" + sent + "\n"


def test_a_keyword_cannot_end_an_open_in_list_in_the_body() -> None:
    """Red team: `open Finset set_option linter.unusedVariables false in` is a bare `open Finset` for Lean
    (the keyword ends the list), then `set_option ... in` before the statement."""
    ref = "theorem t (x : ℕ) : x = x := by\n"
    for helpers in ("open Finset set_option linter.unusedVariables false in\n",
                    "open scoped Classical set_option linter.unusedVariables false in\n"):
        hit = screen(from_parts("o", "import Mathlib\n", ref, "  rfl", helpers=helpers))
        assert hit is not None and hit.rule == "open", hit
    lemma = "lemma corpus_h : True := trivial\n"
    for helpers in ("open Finset in\n" + lemma, "open intervalIntegral in\n" + lemma, "open «foo» in\n" + lemma,
                    "open Finset in\nset_option linter.unusedVariables false in\n" + lemma):
        assert screen(from_parts("o", "import Mathlib\n", ref, "  rfl", helpers=helpers)) is None, helpers


def test_split_header_gives_an_in_line_to_the_body_across_blank_lines() -> None:
    own, rest = split_header("import Mathlib\nopen Real\n\nset_option maxHeartbeats 800000 in\n\ntheorem t : True := trivial\n")
    assert own == "import Mathlib\nopen Real\n\n" and rest.startswith("set_option maxHeartbeats 800000 in")
    own, rest = split_header("open Nat hiding a\n  b\n/- c -/ theorem t : True := trivial\n")
    assert own == "open Nat hiding a\n  b\n" and rest.startswith("/- c -/ theorem")


def test_a_line_inside_a_block_comment_is_never_moved_out_of_it() -> None:
    own = "/-\nimport Corpus.Evil\n-/\nopen Real\n"
    assert merge_header("import Mathlib\n", own) == "import Mathlib\nopen Real\n"


def test_a_chat_answer_keeps_the_reference_header_and_its_own_lines_are_screened() -> None:
    ref = "theorem t (x : ℕ) : x = x := by\n"
    c = with_reference_statement("c", "import Mathlib\n", ref, "import Mathlib\nopen NNReal\n\ntheorem t (x : ℕ) : x = x := by\n  rfl")
    assert c.header == "import Mathlib\n" and c.model_header.startswith("import Mathlib\nopen NNReal") and screen(c) is None
    c = with_reference_statement("d", "import Mathlib\n", ref, "set_option debug.skipKernelTC true\ntheorem t (x : ℕ) : x = x := by\n  rfl")
    assert screen(c).rule == "header"


def test_split_header_leaves_a_doc_comment_to_the_theorem() -> None:
    own, rest = split_header("import Mathlib\n\n/-- doc -/\ntheorem t : True := trivial\n")
    assert own == "import Mathlib\n\n" and rest.startswith("/-- doc -/")


@pytest.mark.parametrize("text,rule", [
    ("theorem t : True := lcProof", "lc_axiom"), ("theorem t : P := Quot.lcInv q", "lc_axiom"),
    ("theorem t : P := lcFutureAxiom", "lc_axiom"), ("theorem t : P := «lcProof»", "lc_axiom"),
    ("@[simps (config := t)] def f := 1", "attribute"), ("@[simp, simps (config := .asFn)] def f := 1", "attribute"),
    ("theorem t := by\n  simp [add, unsafe x]", "unsafe"), ("theorem t := by\n  exact [x, unsafe x]", "unsafe"),
    ("theorem t := by\n  foo (add unsafe x)", "unsafe"),
    ("theorem t : P := binop% f a b", "metaprogram"), ("theorem t : P := by\n  exact decl_name%", "metaprogram"),
    ("gen_injective_theorems% Nat", "command"), ("def y := 1 recall Nat.add_comm", "command"),
    ("theorem t : True := trivial\n/- -/ corpus_cmd foo", "command"), ("  count_heartbeats in\ntheorem t : True := trivial", "command"),
    ("set_option maxHeartbeats 4 in corpus_cmd", "command"), ("set_option maxHeartbeats 4 in\nopen Nat in\ncorpus_cmd", "command"),
    ("/- a\nb -/ corpus_cmd", "command"), ("set_option maxHeartbeats \"4\" in\ntheorem t : True := trivial", "set_option"),
    ('def s (x : ℕ) := s!"{x} #eval IO.Process.exit 0"', "eval"), ('def s (x : ℕ) := s!"{x} macro_rules"', "metaprogram"),
])
def test_issue25_screen_rules(text: str, rule: str) -> None:
    exact = screen_exact(text)
    assert exact is not None and exact[0] == rule, exact
    assert not passes_fast(text)


@pytest.mark.parametrize("text", [
    'def s (x : ℕ) : String := s!"x = {x} and sorry is a word"', 'def s (x : ℕ) : String := s!"the end: {x} is open, an axiom"',
    "theorem t := by\n  aesop (add unsafe 50% apply foo)", "theorem t := by\n  aesop (config := {}) (add safe a, unsafe 50% apply b)",
    "@[simps] def f := 1", "@[simp, simps] def f := 1", "theorem t : 9%2 = 1 := by decide", "theorem t : Nat.lcm 2 3 = 6 := by decide",
    "/- helper -/ theorem t : True := trivial", "set_option maxHeartbeats 4 in\nset_option maxRecDepth 9 in\ntheorem t : True := trivial",
    "set_option maxHeartbeats 4 in\n@[simp] theorem t : True := trivial",
])
def test_issue25_honest_texts_pass(text: str) -> None:
    assert screen_exact(text) is None


def test_every_link_of_a_trailing_chain_is_checked() -> None:
    from bridge.verify.candidate import from_parts

    stmt = "theorem t : True := by\n"
    for helpers, ok in [("set_option maxHeartbeats 4 in\nset_option maxRecDepth 9 in\n", True),
                        ("open Classical in\nset_option maxHeartbeats 4 in\n", False),
                        ("set_option maxHeartbeats 4 in\nopen Classical in\n", False),
                        ("@[simp]\nset_option maxHeartbeats 4 in\n", False)]:
        hit = screen(from_parts("x", "import Mathlib", stmt, "  trivial", helpers=helpers))
        assert (hit is None) == ok, (helpers, hit)


def test_header_lines_are_split_at_newlines_only() -> None:
    """A U+2028 in a comment is no line break to Lean: the header split and the merge count lines alike."""
    own, rest = split_header("import Mathlib -- a\u2028b\nopen Nat\n\ntheorem t : True := trivial\n")
    assert own == "import Mathlib -- a\u2028b\nopen Nat\n\n" and rest == "theorem t : True := trivial\n"
    assert merge_header("import Aesop\n", own) == "import Mathlib\nimport Aesop\nopen Nat\n"
