"""tokenize_readings: the one token stream the screen walks holds exactly the readings it used to lex one
by one (Lean's, each interpolated string's literal text, the plain one), in that order."""

from __future__ import annotations

import random

import pytest

from bridge.verify.lexer import (
    INTERPOLATION_PREFIXES,
    LexError,
    Token,
    tokenize,
    tokenize_plain,
    tokenize_readings,
)


def _expected(text: str) -> list[tuple]:
    """The readings lexed separately, the way the screen read them before the one stream."""
    toks = tokenize(text)
    out = [(t.kind, t.text, t.start, t.end, t.depth) for t in toks]
    if not any(t.kind == "keyword" and t.text in INTERPOLATION_PREFIXES for t in toks):
        return out
    for p in (t for t in toks if t.kind == "interp_string_part"):
        out.append(("reading", "literal", p.start, p.end, p.depth))
        base = p.start + 1
        try:
            out += [(t.kind, t.text, t.start + base, t.end + base, t.depth) for t in tokenize(p.text[1:-1])]
        except LexError as e:
            out.append(("error", e.message, base + e.offset, base + e.offset, 0))
    out.append(("reading", "plain", 0, len(text), 0))
    try:
        out += [(t.kind, t.text, t.start, t.end, t.depth) for t in tokenize_plain(text)]
    except LexError as e:
        out.append(("error", e.message, e.offset, e.offset, 0))
    return out


def _got(text: str) -> list[tuple]:
    got = tokenize_readings(text)
    assert got.marks == tuple(i for i, t in enumerate(got.tokens) if t.kind == "reading")
    return [(t.kind, t.text, t.start, t.end, t.depth) for t in got.tokens]


@pytest.mark.parametrize("text", [
    "theorem t : True := trivial",
    's!"a{x}b{y}c"',
    's!"a -- {x} #eval e"',
    's!"{x} \\{ y"',                                   # \\{ is an escape only in interpolated strings: plain fails
    'theorem s!"a{ "#eval e" }b"',
    'throwErrorAt x "msg {y}"',
    'trace[a] "t {b}" ++ s!"{c}"',
    's!"«{x}"',                                        # the literal text does not lex: an error token
    'def f := "plain {x}"',
])
def test_the_stream_holds_each_reading_in_order(text: str) -> None:
    assert _got(text) == _expected(text)


def test_the_markers_and_errors_say_where() -> None:
    got = tokenize_readings('s!"«{x}"').tokens
    marker = got[[t.kind for t in got].index("reading")]
    assert (marker.text, marker.start) == ("literal", 2)
    err = got[[t.kind for t in got].index("error")]
    assert isinstance(err, Token) and "identifier escape" in err.text
    with pytest.raises(LexError):  # Lean's own reading still raises
        tokenize_readings('s!"{x')


def test_a_seeded_fuzz_of_interpolated_strings_agrees() -> None:
    rng = random.Random(20261207)
    alphabet = ['s!"', "{", "}", '"', "x", "#eval", "\\{", "\\q", "«", "»", "--", "/-", "-/", "'", "throwErrorAt ",
                "trace[a] ", "(", ")", "sorry", " ", "\n", "r\"", "`x", "m!"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        try:
            want = _expected(text)
        except LexError:
            with pytest.raises(LexError):
                tokenize_readings(text)
            continue
        assert _got(text) == want, text
