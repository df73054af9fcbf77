"""Tests for bridge.verify.lexer: Lean v4.9.0's lexical rules, ported (no Lean needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.verify.lexer import (
    CLOSE_BRACKETS,
    INTERPOLATION_PREFIXES,
    OPEN_BRACKETS,
    LexError,
    Token,
    tokenize,
    tokenize_plain,
)


def kt(src: str, *, comments: bool = False) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(src, keep_comments=comments)]


def ktd(src: str) -> list[tuple[str, str, int]]:
    return [(t.kind, t.text, t.depth) for t in tokenize(src, keep_comments=True)]


def lex_error(src: str) -> LexError:
    with pytest.raises(LexError) as info:
        tokenize(src, keep_comments=True)
    return info.value


# --- comments ---------------------------------------------------------------------------------


def test_nested_block_comments() -> None:
    assert kt("/- a /- b -/ c -/ x", comments=True) == [("comment", "/- a /- b -/ c -/"), ("ident", "x")]
    assert kt("/- a /- b -/ c -/ x") == [("ident", "x")]


def test_block_comment_skips_the_character_after_its_opener() -> None:
    # Lean's `whitespace` resumes after the 3rd character of "/-?", so "/-/-" opens only one level.
    assert kt("/-/- -/ x") == [("ident", "x")]
    assert lex_error("/-").message == "unterminated comment"


def test_unterminated_block_comment_reports_its_start() -> None:
    err = lex_error("x /- a /- b -/ c")
    assert err.offset == 2 and "unterminated comment" in err.message


def test_line_comment_ends_at_newline_and_hides_quotes() -> None:
    assert kt('x -- "not a string\ny', comments=True) == [
        ("ident", "x"),
        ("comment", '-- "not a string'),
        ("ident", "y"),
    ]


def test_comment_markers_inside_a_string_are_text() -> None:
    assert kt('"a -- b /- c" d') == [("string", '"a -- b /- c"'), ("ident", "d")]


def test_string_inside_a_comment_is_comment() -> None:
    assert kt('/- "x -/ y') == [("ident", "y")]
    assert kt('-- " \n y') == [("ident", "y")]


def test_doc_comments_are_marked() -> None:
    src = "/-- doc /- nested -/ -/ theorem t /-! module -/"
    assert kt(src, comments=True) == [
        ("doc_comment", "/-- doc /- nested -/ -/"),
        ("ident", "theorem"),
        ("ident", "t"),
        ("doc_comment", "/-! module -/"),
    ]
    assert kt(src) == [("ident", "theorem"), ("ident", "t")]


def test_comment_directly_after_an_identifier_or_bracket() -> None:
    assert kt("a--c\nb") == [("ident", "a"), ("ident", "b")]
    assert kt("a/-c-/b") == [("ident", "a"), ("ident", "b")]
    assert kt("(x)--c") == [("symbol", "("), ("ident", "x"), ("symbol", ")")]


def test_comment_glued_to_a_symbol() -> None:
    # After "," or ":=" no token can go on, so the comment starts there ...
    assert kt("a,--c\nb") == [("ident", "a"), ("symbol", ","), ("ident", "b")]
    assert kt("x :=-- c\n y") == [("ident", "x"), ("symbol", ":="), ("ident", "y")]
    # ... elsewhere it depends on Lean's token table ("<-" is a token), so we refuse.
    assert lex_error("a <--b").offset == 3
    assert "glued" in lex_error("x+/- c -/").message


# --- strings ----------------------------------------------------------------------------------


def test_escapes() -> None:
    assert kt(r'"a\"b" x') == [("string", r'"a\"b"'), ("ident", "x")]
    assert kt(r'"a\\" x') == [("string", r'"a\\"'), ("ident", "x")]
    assert kt(r'"\x41\u03B1\n\t\r\'"') == [("string", r'"\x41\u03B1\n\t\r\'"')]


def test_bad_escapes() -> None:
    assert lex_error(r'"\q"').message == "invalid escape sequence"
    assert "hexadecimal" in lex_error(r'"\x4"').message
    assert "hexadecimal" in lex_error(r'"\u12g4"').message
    assert lex_error(r'"\{x}"').message == "invalid escape sequence"  # \{ only in interpolated strings


def test_string_gaps() -> None:
    assert kt('"this is \\\n     a string" x') == [("string", '"this is \\\n     a string"'), ("ident", "x")]
    assert kt('"a\\\r\n  b"') == [("string", '"a\\\r\n  b"')]
    assert "additional newline" in lex_error('"a\\\n\n b"').message


def test_unterminated_string() -> None:
    err = lex_error('x "abc')
    assert err.offset == 2 and "unterminated string literal" in err.message
    assert lex_error('"abc\\"').offset == 0


def test_raw_strings() -> None:
    # Lean v4.9.0 has raw strings (PR #2929, since v4.5.0): no escapes inside.
    assert kt(r'r"\" x') == [("string", r'r"\"'), ("ident", "x")]
    assert kt('r#"a"b"# x') == [("string", 'r#"a"b"#'), ("ident", "x")]
    assert kt('r##"x"#"## y') == [("string", 'r##"x"#"##'), ("ident", "y")]
    assert kt('r#"a"##') == [("string", 'r#"a"#'), ("symbol", "#")]


def test_raw_string_only_at_token_start() -> None:
    assert kt('fr"x"') == [("ident", "fr"), ("string", '"x"')]
    assert kt('r #"x"') == [("ident", "r"), ("symbol", "#"), ("string", '"x"')]
    assert kt("r#x") == [("ident", "r"), ("keyword", "#x")]


def test_unterminated_raw_string() -> None:
    err = lex_error('a r#"abc"')
    assert err.offset == 2 and "raw string" in err.message


# --- chars and primes -------------------------------------------------------------------------


def test_char_literals() -> None:
    assert kt("'a' '\\'' '\"' '\\\\' '\\n'") == [
        ("char", "'a'"),
        ("char", "'\\''"),
        ("char", "'\"'"),
        ("char", "'\\\\'"),
        ("char", "'\\n'"),
    ]
    assert kt('\'"\' "x"') == [("char", "'\"'"), ("string", '"x"')]


def test_primes_are_identifier_characters() -> None:
    assert kt("h' x'' f' x") == [("ident", "h'"), ("ident", "x''"), ("ident", "f'"), ("ident", "x")]
    assert kt("f'a'") == [("ident", "f'a'")]


def test_double_quote_symbol_and_bad_chars() -> None:
    assert kt("f '' s") == [("ident", "f"), ("symbol", "''"), ("ident", "s")]
    assert "character literal" in lex_error("'ab'").message
    assert "character literal" in lex_error("(f)' x").message
    assert lex_error("x '").offset == 2


def test_quote_glued_to_a_symbol() -> None:
    assert kt("α ×' β") == [("ident", "α"), ("symbol", "×'"), ("ident", "β")]
    assert kt("f ⁻¹' s") == [("ident", "f"), ("symbol", "⁻¹'"), ("ident", "s")]
    assert kt("∑' n, f n")[0] == ("symbol", "∑'")
    assert kt("x+'a'") == [("ident", "x"), ("symbol", "+"), ("char", "'a'")]
    # Whether Lean sees a token "+'" followed by a string, or a char literal, depends on its table.
    assert "ambiguous" in lex_error("x+'\"'").message


# --- identifiers ------------------------------------------------------------------------------


def test_guillemet_identifiers() -> None:
    assert kt("«/-» x «-/»") == [("ident", "«/-»"), ("ident", "x"), ("ident", "«-/»")]
    assert kt("«a b».c d") == [("ident", "«a b».c"), ("ident", "d")]
    assert kt("a.«b -- c».d") == [("ident", "a.«b -- c».d")]
    assert "identifier escape" in lex_error("x «abc").message


def test_unicode_identifiers() -> None:
    assert kt("h₁ α x₀' Real.sqrt ℝ ∑ i") == [
        ("ident", "h₁"),
        ("ident", "α"),
        ("ident", "x₀'"),
        ("ident", "Real.sqrt"),
        ("ident", "ℝ"),
        ("symbol", "∑"),
        ("ident", "i"),
    ]
    # λ, Π and Σ are not letter-like (they are tokens); subscripts cannot start an identifier.
    assert kt("λ x") == [("symbol", "λ"), ("ident", "x")]
    assert kt("₁x") == [("symbol", "₁"), ("ident", "x")]


def test_question_and_bang_identifiers() -> None:
    assert kt("apply? exact? native_decide by_elab decide!") == [
        ("ident", "apply?"),
        ("ident", "exact?"),
        ("ident", "native_decide"),
        ("ident", "by_elab"),
        ("ident", "decide!"),
    ]


def test_hash_commands_are_keywords() -> None:
    assert kt("#eval! 1 #print axioms x #exit #guard_msgs") == [
        ("keyword", "#eval!"),
        ("number", "1"),
        ("keyword", "#print"),
        ("ident", "axioms"),
        ("ident", "x"),
        ("keyword", "#exit"),
        ("keyword", "#guard_msgs"),
    ]
    # A command glued to a symbol is still seen.
    assert ("keyword", "#eval") in kt("simp;#eval 1")
    assert kt("#[1]") == [("symbol", "#"), ("symbol", "["), ("number", "1"), ("symbol", "]")]


def test_dotted_names_stop_before_non_identifiers() -> None:
    assert kt("x.1") == [("ident", "x"), ("symbol", "."), ("number", "1")]
    assert kt("x. y") == [("ident", "x"), ("symbol", "."), ("ident", "y")]
    assert kt(".foo") == [("symbol", "."), ("ident", "foo")]


def test_assign_and_attributes() -> None:
    assert kt("x := y") == [("ident", "x"), ("symbol", ":="), ("ident", "y")]
    assert kt("a:=b") == [("ident", "a"), ("symbol", ":="), ("ident", "b")]
    assert kt("@[simp] theorem t") == [
        ("symbol", "@["),
        ("ident", "simp"),
        ("symbol", "]"),
        ("ident", "theorem"),
        ("ident", "t"),
    ]
    assert kt("@foo") == [("symbol", "@"), ("ident", "foo")]
    assert {"@[", "("} <= OPEN_BRACKETS and {"]", ")"} <= CLOSE_BRACKETS


# --- numbers and name literals ----------------------------------------------------------------


def test_numbers() -> None:
    assert kt("0x1F 0b101 0o17 42 2.5e-3 1.5E+10 2. 0e5") == [
        ("number", "0x1F"),
        ("number", "0b101"),
        ("number", "0o17"),
        ("number", "42"),
        ("number", "2.5e-3"),
        ("number", "1.5E+10"),
        ("number", "2."),
        ("number", "0e5"),
    ]
    assert kt("0b102") == [("number", "0b10"), ("number", "2")]
    assert kt("2x") == [("number", "2"), ("ident", "x")]


def test_bad_numbers() -> None:
    assert "hexadecimal" in lex_error("0x").message
    assert "binary" in lex_error("0b2").message
    assert "exponent" in lex_error("1e").message


def test_field_indices() -> None:
    assert kt("h.1.2") == [
        ("ident", "h"),
        ("symbol", "."),
        ("number", "1"),
        ("symbol", "."),
        ("number", "2"),
    ]
    assert kt("(f x).2.le")[-3:] == [("number", "2"), ("symbol", "."), ("ident", "le")]
    # fieldIdxFn takes digits only, where a numeral would go on to a scientific literal.
    assert kt("x.2e3") == [("ident", "x"), ("symbol", "."), ("number", "2"), ("ident", "e3")]


def test_name_literals() -> None:
    assert kt("`foo ``Nat.succ `«a b».c `h'") == [
        ("name_lit", "`foo"),
        ("name_lit", "``Nat.succ"),
        ("name_lit", "`«a b».c"),
        ("name_lit", "`h'"),
    ]
    assert kt("`(x)") == [("symbol", "`"), ("symbol", "("), ("ident", "x"), ("symbol", ")")]


# --- interpolated strings ---------------------------------------------------------------------


def test_simple_interpolation() -> None:
    assert ktd('s!"a{x}b"') == [
        ("keyword", "s!", 0),
        ("interp_string_part", '"a{', 0),
        ("ident", "x", 1),
        ("interp_string_part", '}b"', 0),
    ]


def test_string_with_brace_inside_interpolation() -> None:
    assert ktd('s!"a{ "}" }b" c') == [
        ("keyword", "s!", 0),
        ("interp_string_part", '"a{', 0),
        ("string", '"}"', 1),
        ("interp_string_part", '}b"', 0),
        ("ident", "c", 0),
    ]


def test_char_quote_inside_interpolation() -> None:
    assert ktd('s!"{\'"\'}" x') == [
        ("keyword", "s!", 0),
        ("interp_string_part", '"{', 0),
        ("char", "'\"'", 1),
        ("interp_string_part", '}"', 0),
        ("ident", "x", 0),
    ]


def test_nested_interpolation() -> None:
    assert ktd('s!"{s!"{y}"}"') == [
        ("keyword", "s!", 0),
        ("interp_string_part", '"{', 0),
        ("keyword", "s!", 1),
        ("interp_string_part", '"{', 1),
        ("ident", "y", 2),
        ("interp_string_part", '}"', 1),
        ("interp_string_part", '}"', 0),
    ]


def test_interpolation_hides_no_code() -> None:
    toks = tokenize('def f := s!"{by_elab foo}"')
    assert Token("ident", "by_elab", 13, 20, 1) in toks
    toks = tokenize('m!"x {(by_elab foo : Nat)} y {z}"')
    assert [t.text for t in toks if t.depth == 1] == ["(", "by_elab", "foo", ":", "Nat", ")", "z"]


def test_braces_and_comments_inside_interpolation() -> None:
    assert ktd('f!"{ {a := 1} -- c\n }"') == [
        ("keyword", "f!", 0),
        ("interp_string_part", '"{', 0),
        ("symbol", "{", 1),
        ("ident", "a", 1),
        ("symbol", ":=", 1),
        ("number", "1", 1),
        ("symbol", "}", 1),
        ("comment", "-- c", 1),
        ("interp_string_part", '}"', 0),
    ]


def test_escaped_brace_and_plain_strings() -> None:
    assert kt('s!"\\{x}"') == [("keyword", "s!"), ("interp_string_part", '"\\{x}"')]
    assert kt('"{x}"') == [("string", '"{x}"')]  # no prefix: an ordinary string
    assert kt('s! -- c\n "{x}"')[1] == ("interp_string_part", '"{')
    assert kt('s!x "{y}"')[0] == ("ident", "s!x")


def test_interpolation_prefixes() -> None:
    assert {"s!", "m!", "f!", "throwError", "throwErrorAt", "trace[", "dbg_trace", "println!"} <= (
        INTERPOLATION_PREFIXES
    )
    for src in ['m!"{x}"', 'f!"{x}"', 'throwError "{x}"', 'dbg_trace "{x}"; e', 'println! "{x}"']:
        assert ("ident", "x", 1) in ktd(src), src
    assert kt('throwError x "{y}"')[-1] == ("string", '"{y}"')  # a term argument: plain
    assert kt('throwError ("{y}")')[2] == ("string", '"{y}"')


def test_trace_takes_a_class_first() -> None:
    assert ktd('trace[Meta.debug] "x {y}"') == [
        ("keyword", "trace[", 0),
        ("ident", "Meta.debug", 0),
        ("symbol", "]", 0),
        ("interp_string_part", '"x {', 0),
        ("ident", "y", 1),
        ("interp_string_part", '}"', 0),
    ]
    assert ("ident", "y", 1) in ktd('aesop_trace![steps] "{y}"')
    assert kt('trace [x] "{y}"')[-1] == ("string", '"{y}"')  # not the trace[ token


def test_throw_error_at_takes_a_reference_first() -> None:
    for src in [
        'throwErrorAt ref "a {x}"',
        'throwErrorAt stx[0] "a {x}"',
        'throwErrorAt (f x) "a {x}"',
        'throwErrorAt h.1 "a {x}"',
        'throwErrorAt "r" "a {x}"',
    ]:
        assert ("ident", "x", 1) in ktd(src), src
    assert kt('throwErrorAt "a {x}" y')[1] == ("string", '"a {x}"')  # the reference itself
    assert kt('throwErrorAt ref m!"a {x}"')[2] == ("keyword", "m!")


def test_throw_error_at_unclear_shape_is_refused_only_when_it_matters() -> None:
    assert "interpolated" in lex_error('throwErrorAt @x "a {b}"').message
    assert "interpolated" in lex_error('throwErrorAt ref ⁻¹ "a {b}"').message
    assert kt('throwErrorAt @x "plain"')[-1] == ("string", '"plain"')
    # The uncertainty ends where the term must have ended.
    assert kt('(throwErrorAt @x e) "a {b}"')[-1] == ("string", '"a {b}"')
    assert kt('def f := throwErrorAt @x e\ntheorem t := "a {b}"')[-1] == ("string", '"a {b}"')


def test_bad_interpolations() -> None:
    assert "empty" in lex_error('s!"{}"').message
    assert "empty" in lex_error('s!"{ /- c -/ }"').message
    err = lex_error('x s!"a{x')
    assert err.offset == 4 and "interpolation" in err.message
    assert lex_error('s!"a{x"').offset == 6  # the "\"" inside the braces opens a string
    assert lex_error('s!"abc').offset == 2
    assert "interpolation" in lex_error('s!"{x)}"').message
    assert "interpolation" in lex_error('s!"{(x}"').message


def test_plain_reading_used_by_error_recovery() -> None:
    # After a parse error Lean skips tokens with tokenFn alone: strings are plain there.
    src = 'theorem s!"a{ "#eval e" }b"'
    assert ("keyword", "#eval") not in kt(src)
    assert ("keyword", "#eval") in [(t.kind, t.text) for t in tokenize_plain(src)]
    assert [(t.kind, t.text) for t in tokenize_plain('s!"{x}" y')] == [
        ("keyword", "s!"),
        ("string", '"{x}"'),
        ("ident", "y"),
    ]
    with pytest.raises(LexError):
        tokenize_plain('s!"\\{x}"')  # \{ is an escape only in interpolated strings
    assert tokenize_plain('throwErrorAt @x "a {b}"')[-1].text == '"a {b}"'


# --- line endings, tabs, odd characters -------------------------------------------------------


def test_bare_carriage_return_is_an_error() -> None:
    err = lex_error("x\ry")
    assert err.offset == 1 and "carriage return" in err.message
    assert lex_error("x \r\r\ny").offset == 2


def test_crlf_is_a_newline() -> None:
    assert kt("a\r\nb -- c\r\nd", comments=True) == [
        ("ident", "a"),
        ("ident", "b"),
        ("comment", "-- c"),
        ("ident", "d"),
    ]


def test_carriage_returns_inside_literals_and_comments() -> None:
    assert kt("-- a\rb\nx", comments=True) == [("comment", "-- a\rb"), ("ident", "x")]
    assert kt('"a\rb"') == [("string", '"a\rb"')]
    assert kt("'\r\n'") == [("char", "'\r\n'")]  # one "\n" after CRLF normalisation


def test_tabs() -> None:
    err = lex_error("x\ty")
    assert err.offset == 1 and "tabs" in err.message
    assert kt('"a\tb" -- \t') == [("string", '"a\tb"')]


@pytest.mark.parametrize("ch", ["\ufeff", "\u00a0", "\u200b", "\x00", "\x0c", "\u2028"])
def test_invisible_characters_are_errors(ch: str) -> None:
    assert lex_error(f"x {ch} y").offset == 2


def test_the_old_masker_desyncs() -> None:
    # The cases the regex masker got wrong: here each gives Lean's reading.
    assert kt('r"\\" #exit') == [("string", 'r"\\"'), ("keyword", "#exit")]
    assert ("keyword", "#exit", 0) in ktd('s!"{\'"\'}" #exit')
    assert ("keyword", "#exit") in kt("«/-» #exit «-/»")
    assert lex_error("x\r#exit").offset == 1
    assert ("ident", "by_elab", 1) in ktd('s!"{by_elab x}"')


# --- properties -------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "a",
        "x₁",
        "h'",
        "«",
        "»",
        "r",
        "#",
        "s!",
        "m!",
        "throwErrorAt",
        "trace[",
        " ",
        "\n",
        "\r",
        "\r\n",
        "\t",
        '"',
        "'",
        "`",
        "\\",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "-",
        "/",
        "--",
        "/-",
        "-/",
        "0",
        "1.5",
        "x",
        ".",
        ":=",
        ",",
        "⁻¹",
        "∑",
        "λ",
        "é",
        "\x00",
    ]
)
_TEXT = st.one_of(st.text(max_size=60), st.lists(_PIECES, max_size=40).map("".join))


def _check_tiling(src: str, toks: list[Token]) -> None:
    pos = 0
    for t in toks:
        assert t.start >= pos and t.end > t.start
        assert src[t.start : t.end] == t.text
        gap = src[pos : t.start]
        assert gap.replace("\r\n", "\n").strip(" \n") == "", (gap, t)
        pos = t.end
    assert src[pos:].replace("\r\n", "\n").strip(" \n") == ""


@settings(max_examples=1500, deadline=None)
@given(_TEXT)
def test_property_only_lex_errors_and_exact_tiling(src: str) -> None:
    try:
        toks = tokenize(src, keep_comments=True)
    except LexError as err:
        assert 0 <= err.offset <= len(src) + 1
        return
    _check_tiling(src, toks)
    assert all(t.depth >= 0 for t in toks)
    without = tokenize(src)
    assert without == [t for t in toks if t.kind not in ("comment", "doc_comment")]
    try:
        _check_tiling(src, tokenize_plain(src, keep_comments=True))
    except LexError:
        pass
    if not any(t.kind == "interp_string_part" for t in toks):
        assert all(t.depth == 0 for t in toks)
        rebuilt, pos = [], 0
        for t in toks:
            rebuilt.append(src[pos : t.start])
            rebuilt.append(t.text)
            pos = t.end
        rebuilt.append(src[pos:])
        assert "".join(rebuilt) == src


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b1", "h'", ":=", "+", "(", ")", " ", "\n", "2"]), max_size=30))
def test_property_plain_code_never_errors(pieces: list[str]) -> None:
    src = " ".join(pieces)
    _check_tiling(src, tokenize(src))
