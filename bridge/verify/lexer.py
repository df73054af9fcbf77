"""A lexer that reads Lean 4 source the way Lean v4.9.0's own tokenizer does.

A static screen is only as good as its reading of the text: if it lexes differently from Lean, a
candidate can hide code from it inside what the screen takes for a string or a comment.  So this
module ports the lexical functions of Lean v4.9.0 rather than approximating them:

* ``src/Lean/Parser/Basic.lean``: ``whitespace``, ``finishCommentBlock``, ``tokenFnAux``,
  ``identFnAux``/``isIdCont``, ``strLitFnAux``, ``quotedCharCoreFn``, ``stringGapFn``,
  ``isRawStrLitStart``/``rawStrLitFnAux``, ``charLitFnAux``, ``numberFnAux`` and friends,
  ``nameLitAux``, ``fieldIdxFn``;
* ``src/Init/Meta.lean``: ``isIdFirst``, ``isIdRest``, ``isLetterLike``, ``isSubScriptAlnum``;
* ``src/Lean/Parser/StrInterpolation.lean``: ``interpolatedStrFn``;
* ``String.crlfToLf`` (``src/Init/Data/String/Extra.lean``), which the v4.9.0 frontend applies to
  the whole file before parsing (lean4 PR #3903, listed in the v4.9.0 release notes).

Offsets are into the text as given (no CRLF rewriting); ``\\r\\n`` is treated exactly as the
``\\n`` Lean sees after ``crlfToLf``, and a ``\\r`` not followed by ``\\n`` is what Lean sees too.

Lean has no separate lexer: the parser asks for a token where it needs one, and a few things
depend on the grammar and on the token table of the imported environment.  Where that matters for
telling code from strings and comments, this module either follows the grammar (interpolated
strings, field indices) or refuses with :class:`LexError` when Lean's reading would depend on
tokens it cannot know (a comment glued to a symbol, a quote glued to a symbol).  Symbols are not
split with Lean's token table: each maximal run of symbol characters is one ``symbol`` token.

Kinds (``Token.kind``):

``ident``
    identifier as written, dotted and with ``«»`` parts (Lean keywords such as ``theorem`` or
    ``by`` are also reported as ``ident``: which words are keywords depends on the token table).
``keyword``
    ``#`` commands (``#eval``, ``#eval!``, ``#print``, ``#exit`` ...) and the words that make the
    next string an interpolated one (:data:`INTERPOLATION_PREFIXES`); ``trace[`` (and the Aesop
    variants) is one keyword token that also opens a ``[`` closed by the next ``]``.
``symbol``
    brackets ``( ) [ ] { } ⟨ ⟩ ⦃ ⦄`` and ``@[`` (one token each), ``''``, a backquote that does
    not start a name literal, and otherwise a maximal run of symbol characters (``:=``, ``+``,
    ``⁻¹'``, ``∑`` ...).
``number``
    natural, ``0x``/``0b``/``0o``, scientific (``2.5e-3``, ``2.``) and field indices (``x.1``).
``string``
    ordinary and raw (``r"..."``, ``r#"..."#``) string literals, quotes included.
``interp_string_part``
    the literal pieces of an interpolated string, as Lean's ``interpolatedStrLitKind`` atoms:
    ``"abc{``, ``}def{``, ``}ghi"``.  The code between them is returned as ordinary tokens with
    ``depth`` one higher.
``char``
    character literal, quotes included.
``name_lit``
    one or two backquotes then a name, as in `` `foo `` and ```` ``foo ```` (Lean's
    ``nameLitAux`` / ``Term.doubleQuotedName``).
``comment`` / ``doc_comment``
    ``--`` and ``/- -/`` comments / ``/-- -/`` and ``/-! -/`` (only with ``keep_comments=True``).
``error``
    only in :func:`tokenize_readings`, where a second reading cannot be lexed (``text`` is the
    message); :func:`tokenize` raises :class:`LexError` instead of producing it.
``reading``
    only in :func:`tokenize_readings`: opens the tokens of the next reading (``literal``, ``plain``).

A caveat for screens: :func:`tokenize` is Lean's reading of a file that *parses*.  After a parse
error Lean's command loop (``parseCommand`` in ``src/Lean/Parser/Module.lean``) skips ahead token by
token with ``tokenFn`` alone (``consumeInput``) until a command parses again, so there every
string is read plainly and ``{...}`` is no longer code while text between interpolations may be:
:func:`tokenize_plain` gives that reading.  A screen that cannot rule out parse errors should look
at both (each raises :class:`LexError` on text that reading cannot lex).

Every character of the source is covered: concatenating the token texts (with
``keep_comments=True``) and the gaps between them gives the source back, and the gaps are only
spaces and newlines (``\\n`` or ``\\r\\n``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass

__all__ = [
    "CLOSE_BRACKETS",
    "COMMAND_WORDS",
    "INTERPOLATION_PREFIXES",
    "INTERPOLATION_PREFIX_SHAPES",
    "OPEN_BRACKETS",
    "LexError",
    "Readings",
    "Token",
    "tokenize",
    "tokenize_plain",
    "tokenize_readings",
]


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # see the module docstring
    text: str  # the exact source slice (for ``reading`` and ``error`` tokens: see tokenize_readings)
    start: int  # offset into the source
    end: int
    depth: int = 0  # interpolation nesting: 0 at top level, 1 inside the {...} of an interpolated string


# A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` for every field; writing the
# slots through their member descriptors builds an identical Token in half the time, which is a
# third of the lexer's time on a long proof.  The loop in ``_tokenize`` and ``_Lexer._emit`` inline this.
_TOKEN_SLOTS = (
    object.__new__,
    Token.kind.__set__,  # type: ignore[attr-defined]
    Token.text.__set__,  # type: ignore[attr-defined]
    Token.start.__set__,  # type: ignore[attr-defined]
    Token.end.__set__,  # type: ignore[attr-defined]
    Token.depth.__set__,  # type: ignore[attr-defined]
)


def _new_token(kind: str, text: str, start: int, end: int, depth: int) -> Token:
    """``Token(kind, text, start, end, depth)``, built the fast way (see ``_TOKEN_SLOTS``)."""
    new, set_kind, set_text, set_start, set_end, set_depth = _TOKEN_SLOTS
    tok = new(Token)
    set_kind(tok, kind)
    set_text(tok, text)
    set_start(tok, start)
    set_end(tok, end)
    set_depth(tok, depth)
    return tok


class LexError(ValueError):
    """The text is not something Lean would tokenize (or not something we can tell how it would)."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.offset = offset
        self.message = message


# The words after which Lean's *parser* reads a string as interpolated (``interpolatedStr``), with
# the grammar between the word and the string and where Lean v4.9.0 (or Aesop) defines it.
INTERPOLATION_PREFIX_SHAPES: dict[str, tuple[str, str]] = {
    "s!": ("string directly", 'src/Init/Data/ToString/Macro.lean: syntax:max "s!" interpolatedStr(term)'),
    "f!": ("string directly", 'src/Init/Data/Format/Macro.lean: syntax:max "f!" interpolatedStr(term)'),
    "m!": ("string directly", 'src/Lean/Message.lean: syntax:max "m!" interpolatedStr(term)'),
    "throwError": (
        "string directly (or any term)",
        'src/Lean/Exception.lean: syntax "throwError " (interpolatedStr(term) <|> term)',
    ),
    "throwErrorAt": (
        "one term:max first, then the string (or any term)",
        'src/Lean/Exception.lean: syntax "throwErrorAt " term:max (interpolatedStr(term) <|> term)',
    ),
    "dbg_trace": (
        "string directly (or any term)",
        "src/Lean/Parser/Term.lean dbgTrace and src/Lean/Parser/Do.lean doDbgTrace: "
        '"dbg_trace" >> (interpolatedStr termParser <|> termParser)',
    ),
    "println!": (
        "string directly (or any term)",
        'src/Init/System/IO.lean: syntax "println! " (interpolatedStr(term) <|> term)',
    ),
    "trace[": (
        "ident ] first, then the string (or any term)",
        'src/Lean/Util/Trace.lean: macro "trace[" id:ident "]" s:(interpolatedStr(term) <|> term)',
    ),
    "aesop_trace[": (
        "ident ] first, then the string (or do/term)",
        'Aesop/Tracing.lean: macro "aesop_trace[" opt:ident "] " (interpolatedStr(term) <|> ...)',
    ),
    "aesop_trace![": (
        "ident ] first, then the string (or any term)",
        'Aesop/Tracing.lean: macro "aesop_trace![" opt:ident "] " (interpolatedStr(term) <|> term)',
    ),
}
INTERPOLATION_PREFIXES: frozenset[str] = frozenset(INTERPOLATION_PREFIX_SHAPES)

OPEN_BRACKETS: frozenset[str] = frozenset(
    {"(", "[", "{", "⟨", "⦃", "@[", "trace[", "aesop_trace[", "aesop_trace!["}
)
CLOSE_BRACKETS: frozenset[str] = frozenset({")", "]", "}", "⟩", "⦄"})

# Command-only keywords: a term cannot go on past one, so they end any "maybe interpolated" region
# left open by an uncertain ``throwErrorAt`` (see ``_at_step``).  ``#`` keywords and ``@[`` do too.
COMMAND_WORDS: frozenset[str] = frozenset(
    """theorem lemma def example instance abbrev structure class inductive namespace section end
    variable universe axiom opaque mutual macro macro_rules syntax elab elab_rules notation
    infix infixl infixr prefix postfix import attribute deriving private protected noncomputable
    partial unsafe""".split()
)

# --- character classes (src/Init/Meta.lean, v4.9.0; Char.isAlpha/isAlphanum are ASCII only) -----
# isLetterLike: Greek except λ Π Σ, Coptic, polytonic Greek, the letter-like block, math alphanumerics.
_LETTER_LIKE = (
    "\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03b1-\u03ba\u03bc-\u03fb\u1f00-\u1ffe\u2100-\u214f"
    "\U0001d49c-\U0001d59f"
)
_ID_FIRST = "A-Za-z_" + _LETTER_LIKE  # isIdFirst
# isIdRest adds digits, ' ! ? and isSubScriptAlnum (ⱼ and Latin-1 letters came after v4.9.0).
_ID_REST = _ID_FIRST + "0-9'!?\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a"
# Characters no Lean token starts with (controls, invisible spaces, format characters, surrogates):
# Lean's ``whitespace`` stops at them and ``tokenFn`` then fails, so we refuse them outside literals.
_BAD = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u180e\u1680\u2000-\u200f"
    "\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb\ud800-\udfff"
)
# Symbol characters: whatever is not space, identifier start, digit, quote, bracket, «, # or @.
_SYM = rf"[^ \t\n\r\"'`«()\[\]{{}}⟨⟩⦃⦄#@0-9{_ID_FIRST}{_BAD}]"

_PART = rf"[{_ID_FIRST}][{_ID_REST}]*|«[^»]*»"
_IDENT = rf"(?:{_PART})(?:\.(?:{_PART}))*"  # identFnAux with isIdCont: "." only before a part

# One match per token: leading spaces/newlines (group 1), then the token (the group number says which).
_MASTER = re.compile(
    r"((?:[ \n]|\r\n)*)(?:"
    r'(r#*")'  # 2: tokenFnAux: 'r' && isRawStrLitStart, tried before identifiers
    rf"|({_IDENT})"  # 3
    r"|(--[^\r\n]*(?:\r(?!\n)[^\r\n]*)*)"  # 4: whitespace: "--" up to (not including) the newline
    r"|(/-)"  # 5: block or doc comment, scanned by _block_comment_end
    rf"|((?:{_SYM}+|#(?![{_ID_FIRST}])|@(?!\[))+)"  # 6: a run of symbol characters
    r"|(@\[|[(\[{⟨⦃])"  # 7
    r"|([)\]}⟩⦄])"  # 8
    r"|([0-9])"  # 9: scanned by _number_end
    r'|(")'  # 10
    r"|(')"  # 11
    r"|(`)"  # 12
    rf"|(#[{_ID_FIRST}][{_ID_REST}]*)"  # 13: # commands
    r")"
)
_G_RAW, _G_ID, _G_LC, _G_BC, _G_SYM, _G_OPEN, _G_CLOSE, _G_NUM, _G_STR, _G_CHR, _G_BT, _G_KW = range(2, 14)
_WS = re.compile(r"(?:[ \n]|\r\n)*")
_IDENT_RE = re.compile(_IDENT)
_ID_START_RE = re.compile(rf"[{_ID_FIRST}«]")  # isIdFirstOrBeginEscape
_ID_FIRST_RE = re.compile(rf"[{_ID_FIRST}]")
_ID_REST_RE = re.compile(rf"[{_ID_REST}]")
_NUMBER = re.compile(
    r"0[bB](?P<b>[01]*)|0[oO](?P<o>[0-7]*)|0[xX](?P<x>[0-9a-fA-F]*)"
    r"|[0-9]+(?:\.[0-9]*)?(?P<e>[eE][-+]?(?P<ed>[0-9]*))?"
)
_DIGITS = re.compile(r"[0-9]+")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_STR_BODY = re.compile(r'[^"\\]*')
_INTERP_BODY = re.compile(r'[^"\\{]*')
_BLOCK_DELIM = re.compile(r"/-|-/")

_QUOTABLE = frozenset("\\\"'rnt")  # isQuotableCharDefault
_DIRECT_PREFIXES = frozenset({"s!", "m!", "f!", "throwError", "dbg_trace", "println!"})
_TRACE_WORDS = frozenset({"trace", "aesop_trace", "aesop_trace!"})
_SPECIAL_WORDS = _DIRECT_PREFIXES | _TRACE_WORDS | {"throwErrorAt"} | COMMAND_WORDS
_CLOSER_OF = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "⦃": "⦄", "@[": "]"}
_TRACE_CLOSE = "]trace"  # bracket-stack entry for trace[ ... ]: its "]" makes the next string interpolated
# Known tokens that end in a quote glued to a symbol (core ×' Σ', Mathlib ∑' ∏' ⁻¹').
_QUOTE_TOKENS = ("×'", "Σ'", "∑'", "∏'", "⁻¹'")
# After these, a glued "--" or "/-" can only start a comment: no token continues them with - or /.
_SAFE_BEFORE_COMMENT = (",", ";", ":=")
_AFTER_FIELD_DOT = frozenset({"ident", "number", "name_lit", "string", "char", "interp_string_part"})
_COMMENT_KINDS = frozenset({"comment", "doc_comment"})

# throwErrorAt state: which part of "throwErrorAt term:max msg" we are in.
_AT_FIRST, _AT_GROUP, _AT_AFTER, _AT_DOT = 1, 2, 3, 4
_ATOM_KINDS = frozenset({"ident", "number", "char", "name_lit", "string"})


def _fail(src: str, pos: int) -> LexError:
    """The error for a character where no token can start (Lean ``whitespace`` / ``tokenFn``)."""
    c = src[pos]
    if c == "\t":
        return LexError(pos, "tabs are not allowed; please configure your editor to expand them")
    if c == "\r":
        return LexError(pos, "isolated carriage returns are not allowed")
    if c == "«":
        return LexError(pos + 1, "unterminated identifier escape")
    return LexError(pos, f"unexpected character {c!r}: no Lean token starts with it")


def _block_comment_end(src: str, start: int) -> int:
    """End of the ``/-`` comment at ``start`` (Lean ``finishCommentBlock``, which nests).

    Lean's ``whitespace`` starts ``finishCommentBlock`` after the character following ``/-``
    (that character is never looked at), and a doc comment's body starts after its ``/--`` or
    ``/-!`` token: both are ``start + 3``.
    """
    i, nesting, search = start + 3, 1, _BLOCK_DELIM.search
    while True:
        m = search(src, i)
        if m is None:
            raise LexError(start, "unterminated comment")
        i = m.end()
        if src[i - 2] == "-":
            nesting -= 1
            if nesting == 0:
                return i
        else:
            nesting += 1


def _string_gap(src: str, k: int) -> int:
    """Lean ``stringGapFn``: ``\\`` newline whitespace*, with exactly one newline; ``k`` is at the newline."""
    n, seen = len(src), False
    while k < n:
        c = src[k]
        if c == "\n" or (c == "\r" and src.startswith("\n", k + 1)):
            if seen:
                raise LexError(k, "unexpected additional newline in string gap")
            seen = True
            k += 1 if c == "\n" else 2
        elif c in " \t\r":  # Char.isWhitespace (a \r here is an isolated one)
            k += 1
        elif seen:
            return k
        else:  # unreachable from _escape, which only calls us at a newline
            raise LexError(k, "expecting newline in string gap")
    return k  # end of input: the string literal reports itself unterminated


def _escape(src: str, k: int, *, in_string: bool, interp: bool) -> int:
    """Lean ``quotedCharCoreFn`` for the escape whose backslash is at ``k - 1``; returns its end."""
    if k >= len(src):
        raise LexError(k, "unexpected end of input in escape sequence")
    c = src[k]
    if c in _QUOTABLE or (interp and c == "{"):  # isQuotableCharForStrInterpolant adds '{'
        return k + 1
    if c == "x":
        if _HEX2.match(src, k + 1) is None:
            raise LexError(k + 1, "invalid hexadecimal numeral")
        return k + 3
    if c == "u":
        if _HEX4.match(src, k + 1) is None:
            raise LexError(k + 1, "invalid hexadecimal numeral")
        return k + 5
    if in_string and (c == "\n" or (c == "\r" and src.startswith("\n", k + 1))):
        return _string_gap(src, k)
    raise LexError(k - 1, "invalid escape sequence")


def _plain_string_end(src: str, start: int) -> int:
    """Lean ``strLitFnAux``: end of the string literal whose ``"`` is at ``start``."""
    n, i, body = len(src), start + 1, _STR_BODY.match
    while True:
        j = body(src, i).end()
        if j >= n:
            raise LexError(start, "unterminated string literal")
        if src[j] == '"':
            return j + 1
        i = _escape(src, j + 1, in_string=True, interp=False)


def _interp_part_end(src: str, i: int, str_start: int) -> tuple[int, bool]:
    """Lean ``interpolatedStrFn.parse`` from ``i`` (just after ``"`` or ``}``).

    Returns the end of the literal part and whether it ended with ``{`` (an interpolation opens).
    """
    n, body = len(src), _INTERP_BODY.match
    while True:
        j = body(src, i).end()
        if j >= n:
            raise LexError(str_start, "unterminated string literal")
        c = src[j]
        if c == '"':
            return j + 1, False
        if c == "{":
            return j + 1, True
        i = _escape(src, j + 1, in_string=True, interp=True)


def _char_end(src: str, start: int) -> int:
    """Lean ``charLitFnAux`` for the ``'`` at ``start`` (the caller checked it is not ``''``); -1 if invalid."""
    n, k = len(src), start + 1
    if k >= n:
        return -1
    c = src[k]
    if c == "\\":
        try:
            k = _escape(src, k + 1, in_string=False, interp=False)
        except LexError:
            return -1
    else:
        k += 2 if (c == "\r" and src.startswith("\n", k + 1)) else 1  # CRLF is one "\n" to Lean
    return k + 1 if k < n and src[k] == "'" else -1


def _number_end(src: str, pos: int) -> int:
    """Lean ``numberFnAux`` (``decimalNumberFn``, ``binNumberFn``, ``octalNumberFn``, ``hexNumberFn``)."""
    m = _NUMBER.match(src, pos)
    assert m is not None  # the master pattern saw a digit here
    if m.group("b") == "" or m.group("o") == "" or m.group("x") == "":
        kind = "binary" if m.group("b") == "" else "octal" if m.group("o") == "" else "hexadecimal"
        raise LexError(m.end(), f"expected {kind} number")
    if m.group("e") is not None and m.group("ed") == "":
        raise LexError(m.end(), "missing exponent digits in scientific literal (a malformed number)")
    return m.end()


@dataclass(slots=True)
class _Frame:
    """An open ``{`` of an interpolated string, and the outer state to restore at its ``}``."""

    base: int  # bracket-stack height at the "{"
    str_start: int  # where the interpolated string began (for errors)
    brace: int  # offset of the "{"
    first_tok: int  # index in the token list of the first token inside
    at: tuple[int, int, int] | None
    maybe: list[int]


def tokenize(source: str, *, keep_comments: bool = False) -> list[Token]:
    """Tokens of ``source`` as Lean v4.9.0 reads it; raises :class:`LexError` where Lean would not lex it.

    Comments and doc comments are returned only with ``keep_comments=True``.  Tokens inside the
    ``{...}`` of an interpolated string come in order among the string's parts, with ``depth`` + 1.
    """
    return _tokenize(source, keep_comments, True)


def tokenize_plain(source: str, *, keep_comments: bool = False) -> list[Token]:
    r"""Tokens of ``source`` as Lean's ``tokenFn`` alone reads it: every string literal is plain.

    This is the reading Lean falls back to after a parse error: ``parseCommand``
    (``src/Lean/Parser/Module.lean``) skips ahead with ``consumeInput``, which calls ``tokenFn``
    (and, where that fails, moves on by one position), until a command parses again.  So after a
    parse error ``theorem s!"a{ "#eval e" }b"`` runs ``#eval e``, which :func:`tokenize` (Lean's
    reading of a file that parses) shows only inside a string.  A screen that cannot rule out parse
    errors should look at both readings, and refuse text that either one cannot lex (here
    ``s!"\{x}"`` is an error: ``\{`` is an escape only in interpolated strings).
    """
    return _tokenize(source, keep_comments, False)


@dataclass(frozen=True, slots=True)
class Readings:
    """What :func:`tokenize_readings` gives: one stream of tokens, and where its marked readings begin."""

    tokens: list[Token]
    marks: tuple[int, ...]  # the index in ``tokens`` of each ``reading`` marker, in order


def tokenize_readings(source: str) -> Readings:
    """Every reading of ``source`` a screen must look at, in one stream, in the order to check them.

    First the tokens of :func:`tokenize` (it raises :class:`LexError` as that does).  If they hold an
    interpolation prefix keyword (:data:`INTERPOLATION_PREFIXES`), two more readings follow, each
    opened by a marker token of kind ``reading``:

    * ``reading`` ``"literal"`` (start/end/depth those of an ``interp_string_part``), one per part in
      order, then the tokens of that part's text without its delimiters read as code (what Lean's
      command loop reads there after a parse error inside ``{...}``), offsets moved into ``source``,
      ``depth`` counted from that text;
    * ``reading`` ``"plain"`` (start 0, end ``len(source)``), then the tokens of :func:`tokenize_plain`.

    Where a marked reading cannot be lexed, its tokens are one ``error`` token instead: ``text`` is
    the :class:`LexError`'s message and ``start`` = ``end`` its offset (into ``source``).
    Comments are never returned.  ``marks`` lists the markers' indices, so that a reader need not
    look at every token to find where a reading begins.
    """
    toks = _tokenize(source, False, True)
    if not any(t.kind == "keyword" and t.text in INTERPOLATION_PREFIXES for t in toks):
        return Readings(toks, ())
    stream, marks = list(toks), []
    for part in toks:
        if part.kind != "interp_string_part":
            continue
        marks.append(len(stream))
        stream.append(_new_token("reading", "literal", part.start, part.end, part.depth))
        base = part.start + 1  # the part's text without its delimiters: '"' or '}', then '{' or '"'
        try:
            inner = _tokenize(part.text[1:-1] if len(part.text) >= 2 else "", False, True)
        except LexError as e:
            stream.append(_new_token("error", e.message, base + e.offset, base + e.offset, 0))
            continue
        stream.extend(_new_token(t.kind, t.text, t.start + base, t.end + base, t.depth) for t in inner)
    marks.append(len(stream))
    stream.append(_new_token("reading", "plain", 0, len(source), 0))
    try:
        stream.extend(_tokenize(source, False, False))
    except LexError as e:
        stream.append(_new_token("error", e.message, e.offset, e.offset, 0))
    return Readings(stream, tuple(marks))


def _tokenize(source: str, keep_comments: bool, interpolate: bool) -> list[Token]:
    """The lexer proper; ``interpolate`` says whether to follow the grammar for interpolated strings.

    One match of ``_MASTER`` per token; the group that matched picks the rule in ``_RULES`` (a
    :class:`_Lexer` method) that finishes the token: it returns the token (kind, text, end, whether
    a string after it is interpolated, the bracket-stack height before it) for the loop to emit, or,
    where it emitted what it read itself, the offset where the next token may start.
    """
    lx = _Lexer(source, keep_comments, interpolate)
    rules, append = _RULES, lx.toks.append
    new, set_kind, set_text, set_start, set_end, set_depth = _TOKEN_SLOTS
    src, n, match = source, len(source), _MASTER.match
    pos = 0
    while pos < n:
        m = match(src, pos)
        if m is None:
            pos = _WS.match(src, pos).end()  # type: ignore[union-attr]  # (always matches)
            if pos == n:
                break
            raise _fail(src, pos)
        group = m.lastindex
        start, end = m.span(group)  # the token starts after the spaces (group 1)
        if group == _G_ID and (text := src[start:end]) not in _SPECIAL_WORDS:  # (the commonest rule, inlined)
            kind, new_interp, nb = "ident", False, len(lx.brackets)
        else:
            got = rules[group](lx, start, end)  # type: ignore[index]
            if got.__class__ is int:  # the rule emitted what it read itself (strings, comments ...)
                pos = got  # type: ignore[assignment]
                continue
            kind, text, end, new_interp, nb = got  # type: ignore[misc]
        tok = new(Token)  # = Token(kind, text, start, end, depth), the fast way (see _TOKEN_SLOTS)
        set_kind(tok, kind)
        set_text(tok, text)
        set_start(tok, start)
        set_end(tok, end)
        set_depth(tok, lx.depth)
        append(tok)
        if lx.at is not None:  # follow throwErrorAt past it
            lx.at = _at_step(lx.at, tok, nb, len(lx.brackets), lx.maybe)
        lx.interp_next = new_interp and interpolate
        pos = end
    if lx.frames:
        raise LexError(lx.frames[-1].str_start, "unterminated string interpolation")
    return lx.toks


# What a token rule returns: a token for the loop to emit (kind, text, end, new_interp, nb), or the
# offset after what the rule emitted itself.
_Got = tuple[str, str, int, bool, int] | int


class _Lexer:
    """The state of one :func:`_tokenize` run and its token rules, one method per ``_MASTER`` group.

    Each rule gets the span of what the master pattern matched and returns the offset after the
    token (or tokens) it emitted.  The state is what Lean's parser would know at that point:
    ``brackets`` (the closer each open bracket expects), ``frames`` (open ``{`` of interpolated
    strings), ``interp_next`` (the previous significant token makes a following string interpolated),
    ``at`` (throwErrorAt: phase, bracket depth, end of the last reference token) and ``maybe`` (bracket
    depths where a string may or may not be interpolated, sorted).
    """

    __slots__ = ("src", "keep", "interpolate", "toks", "depth", "brackets", "frames", "interp_next", "at",
                 "maybe")

    def __init__(self, source: str, keep_comments: bool, interpolate: bool) -> None:
        self.src, self.keep, self.interpolate = source, keep_comments, interpolate
        self.toks: list[Token] = []
        self.depth = 0
        self.brackets: list[str] = []
        self.frames: list[_Frame] = []
        self.interp_next = False
        self.at: tuple[int, int, int] | None = None
        self.maybe: list[int] = []

    def _emit(self, kind: str, text: str, start: int, end: int, new_interp: bool, nb: int) -> int:
        """Append the token (the fast way, see ``_TOKEN_SLOTS``), follow throwErrorAt past it; ``nb``
        is the bracket-stack height before it."""
        new, set_kind, set_text, set_start, set_end, set_depth = _TOKEN_SLOTS
        tok = new(Token)
        set_kind(tok, kind)
        set_text(tok, text)
        set_start(tok, start)
        set_end(tok, end)
        set_depth(tok, self.depth)
        self.toks.append(tok)
        if self.at is not None:
            self.at = _at_step(self.at, tok, nb, len(self.brackets), self.maybe)
        self.interp_next = new_interp and self.interpolate
        return end

    def _ident(self, start: int, end: int) -> _Got:
        text = self.src[start:end]
        if text in _SPECIAL_WORDS:
            return self._special_word(text, start, end)
        return "ident", text, end, False, len(self.brackets)

    def _special_word(self, text: str, start: int, end: int) -> _Got:
        """An interpolation prefix, ``throwErrorAt``, ``trace[`` or a command keyword."""
        nb = len(self.brackets)
        kind, new_interp = "ident", False
        if text in _DIRECT_PREFIXES:
            kind, new_interp = "keyword", True
        elif text == "throwErrorAt":
            end = self._emit("keyword", text, start, end, False, nb)
            if self.interpolate:
                if self.at is not None:  # a new one while the last is undecided: keep the last one as "maybe"
                    _add_maybe(self.maybe, self.at[1])
                self.at = (_AT_FIRST, len(self.brackets), end)
            return end
        elif text in _TRACE_WORDS:
            if self.src.startswith("[", end):  # Lean's token "trace[" is longer than the ident
                kind, text, end = "keyword", text + "[", end + 1
                self.brackets.append(_TRACE_CLOSE)
        else:  # a command keyword: no term goes on past it
            self.at = _end_terms(self.maybe, self.at, nb)
        return kind, text, end, new_interp, nb

    def _symbol(self, start: int, end: int) -> _Got:
        src = self.src
        text = src[start:end]
        # A "--" or "/-" inside a run starts a comment only if Lean's token ends right before it,
        # which depends on its token table: refuse unless no token could go on.
        k = -1
        if len(text) > 2:
            k, k2 = text.find("--", 1), text.find("/-", 1)
            if k2 > 0 and (k < 0 or k2 < k):
                k = k2
        if k > 0:
            if not text[:k].endswith(_SAFE_BEFORE_COMMENT):
                raise LexError(start + k, f"comment start glued to the symbol {text[:k]!r}")
            text, end = text[:k], start + k
        elif src.startswith("'", end):
            text, end = _glued_quote(src, text, end)
        return "symbol", text, end, False, len(self.brackets)

    def _open(self, start: int, end: int) -> _Got:
        text, nb = self.src[start:end], len(self.brackets)
        self.brackets.append(_CLOSER_OF[text])
        if text == "@[":
            self.at = _end_terms(self.maybe, self.at, nb)
        return "symbol", text, end, False, nb

    def _close(self, start: int, end: int) -> _Got:
        text, brackets, frames = self.src[start:end], self.brackets, self.frames
        nb = len(brackets)
        if frames and nb == frames[-1].base:
            if text != "}":
                raise LexError(start, f"unexpected {text!r} in string interpolation")
            return self._close_interpolation(start)
        new_interp = False
        if brackets and brackets[-1][0] == text:
            new_interp = brackets.pop() == _TRACE_CLOSE
        elif frames:
            raise LexError(start, f"unexpected {text!r} in string interpolation")
        nb_after, maybe = len(brackets), self.maybe
        while maybe and maybe[-1] > nb_after:  # left the brackets those "maybe"s were in
            maybe.pop()
        if self.at is not None and nb_after < self.at[1]:
            self.at = None
        return "symbol", text, end, new_interp, nb

    def _close_interpolation(self, pos: int) -> int:
        """The "}" closing an interpolation: check it held code, then go on with the string."""
        fr, toks = self.frames.pop(), self.toks
        if not any(toks[i].kind not in _COMMENT_KINDS for i in range(fr.first_tok, len(toks))):
            raise LexError(fr.brace, "empty string interpolation")
        self.depth -= 1
        self.at, self.maybe = fr.at, fr.maybe
        self.interp_next = False
        return self._string_part(pos, pos + 1, fr.str_start)

    def _string_part(self, part_start: int, i: int, str_start: int) -> int:
        """Emit the literal part of an interpolated string that starts at ``part_start``; return its end.

        If the part ends with ``{``, push a frame (saving the outer throwErrorAt state) and lex the
        code that follows at ``depth + 1`` until the matching ``}``.
        """
        end, opened = _interp_part_end(self.src, i, str_start)
        toks = self.toks
        toks.append(_new_token("interp_string_part", self.src[part_start:end], part_start, end, self.depth))
        if opened:
            self.frames.append(_Frame(len(self.brackets), str_start, end - 1, len(toks), self.at, self.maybe))
            self.depth += 1
            self.at, self.maybe = None, []
        return end

    def _number(self, start: int, end: int) -> _Got:
        toks = self.toks
        # fieldIdxFn after a "." glued to an identifier, a closing bracket, ... (proj notation)
        if (
            len(toks) > 1
            and toks[-1].end == start
            and toks[-1].text == "."
            and toks[-2].end == toks[-1].start
            and (toks[-2].kind in _AFTER_FIELD_DOT or toks[-2].text in CLOSE_BRACKETS)
        ):
            end = _DIGITS.match(self.src, start).end()  # type: ignore[union-attr]  # fieldIdxFn: digits only
        else:
            end = _number_end(self.src, start)
        return "number", self.src[start:end], end, False, len(self.brackets)

    def _string(self, start: int, end: int) -> _Got:
        """A ``"``: decide what Lean's parser makes of this string: interpolated, plain, or "cannot tell"."""
        nb, at = len(self.brackets), self.at
        mode = 1 if self.interp_next else 0  # 1 interpolated, 0 plain, 2 maybe
        if at is not None and at[1] == nb:
            if at[0] == _AT_FIRST:
                at = (_AT_AFTER, nb, -1)  # the string is the term:max reference; fixed up below
            elif at[0] == _AT_AFTER:
                mode, at = 1, None
            else:
                _add_maybe(self.maybe, nb)
                at = None
            self.at = at
        if mode == 0 and self.maybe and self.maybe[-1] == nb:
            mode = 2
        self.interp_next = False
        if mode == 1:
            return self._string_part(start, start + 1, start)
        end = _plain_string_end(self.src, start)
        text = self.src[start:end]
        if mode == 2 and "{" in text:
            raise LexError(start, "cannot tell whether Lean reads this string as interpolated (after throwErrorAt)")
        if at is not None and at[0] == _AT_AFTER and at[2] == -1:
            self.at = (_AT_AFTER, nb, end)
        self.toks.append(_new_token("string", text, start, end, self.depth))
        return end

    def _line_comment(self, start: int, end: int) -> _Got:
        if self.keep:
            self.toks.append(_new_token("comment", self.src[start:end], start, end, self.depth))
        return end

    def _block_comment(self, start: int, end: int) -> _Got:
        src = self.src
        end = _block_comment_end(src, start)
        if self.keep:
            doc = src.startswith(("/--", "/-!"), start)
            self.toks.append(_new_token("doc_comment" if doc else "comment", src[start:end], start, end, self.depth))
        return end

    def _char(self, start: int, end: int) -> _Got:
        src = self.src
        if src.startswith("''", start):  # tokenFnAux: "'" starts a char only if not followed by "'"
            kind, text, end = "symbol", "''", start + 2
        else:
            end = _char_end(src, start)
            if end < 0:
                raise LexError(start, "missing end of character literal")
            kind, text = "char", src[start:end]
        return kind, text, end, False, len(self.brackets)

    def _raw_string(self, start: int, end: int) -> _Got:
        src, nb = self.src, len(self.brackets)
        close = '"' + "#" * (end - start - 2)
        j = src.find(close, end)
        if j < 0:
            raise LexError(start, "unterminated raw string literal")
        end = j + len(close)
        if self.at is not None and self.at[0] == _AT_AFTER and self.at[1] == nb:
            self.at = None  # the message is a term (a raw string is never interpolated)
        return "string", src[start:end], end, False, nb

    def _backquote(self, start: int, end: int) -> _Got:
        # tokenFnAux: "`" followed by an identifier start is a name literal (nameLitAux);
        # "``" before one is Term.doubleQuotedName.  Otherwise "`" is a symbol (quotations).
        src = self.src
        skip = 2 if src.startswith("`", start + 1) and _ID_START_RE.match(src, start + 2) else 1
        if _ID_START_RE.match(src, start + skip):
            mi = _IDENT_RE.match(src, start + skip)
            if mi is None:
                raise LexError(start + skip + 1, "unterminated identifier escape")
            kind, end = "name_lit", mi.end()
        else:
            kind, end = "symbol", start + 1
        return kind, src[start:end], end, False, len(self.brackets)

    def _hash_command(self, start: int, end: int) -> _Got:
        """A ``#`` command such as ``#eval``, ``#print``, ``#exit``."""
        nb = len(self.brackets)
        self.at = _end_terms(self.maybe, self.at, nb)
        return "keyword", self.src[start:end], end, False, nb


# The token rules, indexed by the number of the ``_MASTER`` group that matched (_G_RAW .. _G_KW: 2 .. 13).
_RULES = (None, None, _Lexer._raw_string, _Lexer._ident, _Lexer._line_comment, _Lexer._block_comment,
          _Lexer._symbol, _Lexer._open, _Lexer._close, _Lexer._number, _Lexer._string, _Lexer._char,
          _Lexer._backquote, _Lexer._hash_command)
assert len(_RULES) == _G_KW + 1


def _glued_quote(src: str, text: str, end: int) -> tuple[str, int]:
    """A quote glued to the symbol ``text`` (which ends at ``end``): Lean reads a token ending in "'"
    if its table has one (×' ∑' ⁻¹' ...), else a char literal.  Refuse when the two readings could differ."""
    ce = _char_end(src, end) if not src.startswith("''", end) else -1
    if ce >= 0:
        converge = (
            ce == end + 3 and _ID_FIRST_RE.match(src, end + 1) is not None and _ID_REST_RE.match(src, ce) is None
        )
        if not converge:
            raise LexError(end, f"a quote glued to the symbol {text!r} is ambiguous")
    elif (text + "'").endswith(_QUOTE_TOKENS):
        return text + "'", end + 1
    return text, end


def _end_terms(maybe: list[int], at: tuple[int, int, int] | None, nb: int) -> tuple[int, int, int] | None:
    """A command keyword at bracket depth ``nb``: any throwErrorAt term at that depth or deeper is over."""
    if at is not None and at[1] >= nb:
        at = None
    while maybe and maybe[-1] >= nb:
        maybe.pop()
    return at


def _add_maybe(maybe: list[int], d: int) -> None:
    """Add bracket depth ``d`` to ``maybe``, which stays sorted, without duplicates, and <= the
    current depth (so membership is a look at the last entry and pruning pops from the end)."""
    i = bisect_left(maybe, d)
    if i == len(maybe) or maybe[i] != d:
        maybe.insert(i, d)


def _at_step(
    at: tuple[int, int, int], tok: Token, nb_before: int, nb_after: int, maybe: list[int]
) -> tuple[int, int, int] | None:
    """Follow ``throwErrorAt term:max msg`` one token on (strings are handled by the caller).

    Only the simple shapes of ``term:max`` are followed (an atom or a bracketed group, then
    ``.field``, ``.1`` or ``[i]`` without spaces); anything else makes every later string at that
    bracket depth a "maybe" (refused if it holds a ``{``) until the term must have ended.
    """
    phase, d, e = at
    if nb_after < d:
        return None
    if phase == _AT_FIRST:
        if tok.kind in _ATOM_KINDS:
            return (_AT_AFTER, d, tok.end)
        if nb_after > nb_before:
            return (_AT_GROUP, d, tok.end)
    elif phase == _AT_GROUP:
        return (_AT_AFTER, d, tok.end) if nb_after == d and nb_before > d else at
    elif phase == _AT_AFTER:
        if tok.start == e and tok.text == ".":
            return (_AT_DOT, d, tok.end)
        if tok.start == e and tok.text == "[":
            return (_AT_GROUP, d, tok.end)
    elif phase == _AT_DOT:
        if tok.start == e and tok.kind in ("ident", "number"):
            return (_AT_AFTER, d, tok.end)
    _add_maybe(maybe, d)
    return None


def code_lines(text: str) -> list[list[Token]]:
    """The code tokens of ``text`` (comments dropped) grouped by the line each starts on, in order.

    The one reading of a model's header lines: the screen's header allow-list judges these tokens, and
    the header Lean is sent is rebuilt from these same tokens (``candidate.merge_header``), so Lean gets
    exactly the commands the screen passed. Raises :class:`LexError`."""
    lines: dict[int, list[Token]] = {}
    for t in tokenize(text, keep_comments=True):
        if t.kind not in ("comment", "doc_comment"):
            lines.setdefault(text.count("\n", 0, t.start), []).append(t)
    return list(lines.values())


_NAME_PART = re.compile(rf"[{_ID_FIRST}][{_ID_REST}]*|«[^«»\n]+»")


def escaped_name(text: str) -> str | None:
    """One identifier with every part in «» (``add_comm`` -> ``«add_comm»``, ``a.«b»`` -> ``«a».«b»``), or
    None when ``text`` is not a plain dotted name. An escaped identifier is never a keyword (Lean's
    ``identFn`` reads ``«...»`` as a name part, and no token starts with ``«``), so a name list
    (``open X hiding a b``) cannot end early at a command keyword of Mathlib's token table, which this
    lexer does not know, and start a second command on the line."""
    parts = []
    pos = 0
    while True:
        m = _NAME_PART.match(text, pos)
        if m is None:
            return None
        part = m.group(0)
        parts.append(part if part.startswith("«") else f"«{part}»")
        pos = m.end()
        if pos == len(text):
            return ".".join(parts)
        if text[pos] != ".":
            return None
        pos += 1


def open_name_list(line: list[Token]) -> tuple[Token, list[Token], str] | None:
    """``open NS hiding a b`` / ``open NS (a b)``: (NS, the listed names, "hiding" or "("), else None."""
    if len(line) >= 4 and line[0].text == "open" and line[2].text == "hiding":
        return line[1], line[3:], "hiding"
    if len(line) >= 5 and line[0].text == "open" and line[2].text == "(" and line[-1].text == ")":
        return line[1], line[2 + 1:-1], "("
    return None


def header_lines(text: str) -> list[list[Token]]:
    """:func:`code_lines` of a model's header, with a line that starts past column 0 joined to an
    ``open`` line before it: Lean reads it as more of that ``open``'s names (they need only a column
    past the command's), so the screen and the rebuilt header must see one command too."""
    out: list[list[Token]] = []
    for line in code_lines(text):
        first = line[0]
        indent = text[text.rfind("\n", 0, first.start) + 1:first.start]
        # only spaces or tabs before it (a comment first makes it a line of its own, as split_header does)
        if out and indent and not indent.strip(" \t") and out[-1][0].text == "open":
            out[-1] = out[-1] + line
        else:
            out.append(line)
    return out


_CAPITAL_NAME = re.compile(r"[A-Z][A-Za-z0-9_']*(?:\.[A-Z][A-Za-z0-9_']*)*")


def header_command(line: list[Token]) -> str:
    """The text Lean is sent for one header line the screen passed: its tokens, with the names of an
    ``open NS hiding ...`` / ``open NS (...)`` list escaped, and an opened namespace that does not start
    with a capital (``intervalIntegral``, which a keyword could look like) escaped too (:func:`escaped_name`)."""
    listed = open_name_list(line)
    if listed is not None:
        ns, names, how = listed
        quoted = " ".join(escaped_name(t.text) or t.text for t in names)
        space = _capital_or_escaped(ns.text)
        return f"open {space} hiding {quoted}" if how == "hiding" else f"open {space} ({quoted})"
    if line[0].text == "open":
        scoped = len(line) > 1 and line[1].text == "scoped"
        rest = line[2:] if scoped else line[1:]
        return " ".join(["open", *(["scoped"] if scoped else []), *(_capital_or_escaped(t.text) for t in rest)])
    return " ".join(t.text for t in line)


def _capital_or_escaped(text: str) -> str:
    return text if _CAPITAL_NAME.fullmatch(text) else (escaped_name(text) or text)
