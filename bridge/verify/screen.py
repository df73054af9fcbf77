"""The static screen: an allow-list over Lean tokens that may reject a candidate before Lean sees it,
never accept one.

The code is read with :mod:`bridge.verify.lexer` (Lean v4.9.0's tokenizer, ported), so the screen sees
exactly the tokens Lean sees: nothing hides in a string or comment Lean would read as code (raw strings,
char literals, ``«»`` names, CR), and the code inside an interpolated string is code. Where Lean could
read a string two ways (after a parse error it reads every string plainly), both readings are screened.

What model code may contain (``rules.toml`` beside this file says it as data): theorems, lemmas and
plain definitions, with attributes from a small safe list; ``open A B in``; ``set_option`` from a list
holding no ``pp.*``; comments. No metaprogramming anywhere, no ``#`` command, no name in the ``Lean``,
``IO`` or ``System`` namespaces.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bridge.errors import ConfigError
from bridge.verify.candidate import Candidate
from bridge.verify.lexer import (
    _ID_FIRST,
    _ID_REST,
    LexError,
    Readings,
    Token,
    escaped_name,
    header_lines,
    open_name_list,
    tokenize,
    tokenize_readings,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RULES_FILE = Path(__file__).with_name("rules.toml")


@dataclass(frozen=True)
class Rule:
    """A user's extra regex rule, matched against code with comments and strings blanked out."""

    id: str
    pattern: re.Pattern[str]
    where: str
    message: str
    unless: str | None = None


@dataclass(frozen=True)
class ScreenHit:
    rule: str
    message: str
    region: str
    offset: int  # into the candidate's body
    excerpt: str

    line: int | None = None  # set for the "header" region (offsets there are into the model's header)

    def reason(self, body: str) -> str:
        if self.region == "header":
            return (f"static screen rule '{self.rule}': {self.message} (line {self.line} of the model's own "
                    f"header: `{self.excerpt}`)")
        line = body.count("\n", 0, self.offset) + 1
        return f"static screen rule '{self.rule}': {self.message} (line {line} of the body: `{self.excerpt}`)"


@dataclass(frozen=True)
class Policy:
    """The allow-list, read from rules.toml."""

    words: dict[str, tuple[str, str, str | None]]  # exact token text -> (rule, message, unless)
    parts: dict[str, tuple[str, str, str | None]]  # a part of a dotted name -> (rule, message, unless)
    attributes: frozenset[str]
    options: frozenset[str]
    option_prefixes: tuple[str, ...]
    namespaces: frozenset[str]
    rule_ids: frozenset[str]
    import_roots: frozenset[str] = frozenset()  # a model's header may import modules under these only


# rules the screen itself applies beside the word lists
BUILTIN_RULES = {
    "lex": "the code does not read as Lean would read it (an unterminated string or comment, a tab, a lone CR, "
           "or text whose reading would depend on Lean's token table)",
    "interpolation": "a string Lean could read two ways (interpolated, or plainly after a parse error) hides code",
    "command": "a `#` command (`#eval`, `#print`, `#exit`, `#check`, ...) in model code",
    "exit": "`#exit` stops elaboration early",
    "guard_msgs": "`#guard_msgs` can hide Lean's messages",
    "eval": "runs code at elaboration time (`#eval`, `run_cmd`, `run_tac`, `by_elab`, ...)",
    "set_option": "`set_option` outside the allow-list (maxHeartbeats, maxRecDepth, synthInstance.*, linter.*)",
    "open": "`open` must be `open A B in` (no bare open, no `open private`, `hiding`, `renaming`, `(...)`)",
    "attribute": "an attribute outside the allow-list (simp, reducible, inline, ext, norm_cast, ...)",
    "environment": "touches the environment, the elaborator or IO",
    "native_decide": "`native_decide` trusts the compiler (allow with --allow-native-decide)",
    "header": "a header line the model wrote is not one command of the header allow-list (`import` of the "
              "project's libraries, `open A B` without `in`, `open A hiding x` / `open A (x)`, an allowed `set_option` to a number or true/false, "
              "`universe`), one per line",
}
_HASH_RULES = {"#exit": "exit", "#guard_msgs": "guard_msgs", "#eval": "eval", "#eval!": "eval", "#reduce": "eval",
               "#print": "eval", "#exec": "eval"}
_OPEN_MODIFIERS = frozenset({"private", "hiding", "renaming", "local", "in_namespace"})
_OPEN_NOT_NAMES = _OPEN_MODIFIERS | {"in", "scoped", "open", "set_option", "import", "universe"}
_AESOP_PHASES = frozenset({"unsafe"})  # `aesop (add unsafe 50% apply foo)`: a rule phase, not a declaration
# Words that may begin a line at column 0 of model code: declarations and their parts, the allowed
# command forms, and what continues a declaration (a match arm, a where, termination hints).
_LINE_STARTS = frozenset({"theorem", "lemma", "def", "abbrev", "example", "noncomputable", "private", "protected",
                          "open", "set_option", "termination_by", "decreasing_by", "where", "with", "by", "at",
                          "in", "then", "else", "fun", "calc", "show", "from", "have", "let", "exact", "intro"})
_DECL_AFTER_NONCOMPUTABLE = frozenset({"def", "abbrev", "theorem", "lemma", "example"})


def _load_policy(path: Path) -> Policy:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read screen rules: {e}", "restore the file from the repository") from None
    words: dict[str, tuple[str, str, str | None]] = {}
    parts: dict[str, tuple[str, str, str | None]] = {}
    ids = set(BUILTIN_RULES)
    for entry in data.get("words", []):
        rule = (entry["id"], entry["message"], entry.get("unless"))
        ids.add(entry["id"])
        for w in entry["words"]:
            (parts if entry.get("part") else words)[w] = rule
            if entry.get("part"):
                words.setdefault(w, rule)
    allow = data.get("allow", {})
    return Policy(words, parts, frozenset(allow.get("attributes", [])), frozenset(allow.get("set_option", [])),
                  tuple(allow.get("set_option_prefixes", [])), frozenset(allow.get("forbidden_namespaces", [])),
                  frozenset(ids), frozenset(allow.get("import_roots", [])))


@lru_cache(maxsize=1)
def policy() -> Policy:
    return _load_policy(RULES_FILE)


def rule_ids() -> frozenset[str]:
    """Every rule id the screen can give (for the corpus coverage test and the docs)."""
    return policy().rule_ids


def load_rules(path: str | Path) -> list[Rule]:
    """A user's extra regex rules (``[[rule]]`` entries: id, pattern, message, where, unless)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read screen rules: {e}", "fix the file") from None
    rules = []
    for i, r in enumerate(data.get("rule", [])):
        try:
            rules.append(Rule(id=r["id"], pattern=re.compile(r["pattern"]), where=r.get("where", "all"),
                              message=r["message"], unless=r.get("unless")))
        except (KeyError, re.error) as e:
            raise ConfigError(f"{path}: rule #{i + 1} is invalid: {e!r}", "each rule needs id, pattern, message") from None
        if rules[-1].where not in ("all", "helpers", "proof"):
            raise ConfigError(f"{path}: rule '{r['id']}': where must be all, helpers or proof")
    return rules


def _name_parts(text: str) -> list[str]:
    """``Lean.«sorryAx»`` -> ["Lean", "sorryAx"]; a leading ``_root_`` is not a part."""
    out = [p.strip("«»") for p in re.split(r"\.(?![^«]*»)", text)]
    return out[1:] if out and out[0] == "_root_" else out


class _Found(Exception):
    def __init__(self, rule: str, message: str, tok: Token):
        self.rule, self.message, self.tok = rule, message, tok


def _lc_axiom(part: str) -> bool:
    """`lc` + a capital: the compiler's axioms (Init/Prelude.lean v4.9.0: `unsafe axiom lcProof`,
    `lcCast`, `lcUnreachable`, `lcErased`, `lcAny`, `Quot.lcInv`), and any later one named alike."""
    return len(part) > 2 and part[0] == "l" and part[1] == "c" and "A" <= part[2] <= "Z"


# rules that cannot run code: in the literal text of an interpolated string (which Lean reads as code
# only after a parse error, and a parse error rejects the candidate) they do not fire
_INERT_IN_LITERAL = frozenset({"sorry", "sorryAx", "axiom", "scope", "search_tactic", "native_decide",
                               "trust_compiler", "unsafe", "import", "prelude", "lc_axiom"})


def _check_tokens(toks: list[Token], pol: Policy, options: frozenset[str], literal: bool = False) -> None:
    """Raise _Found at the first token the allow-list refuses. ``literal``: the text between the
    `{...}` of an interpolated string, where only the rules that can run code apply."""
    code = [t for t in toks if t.kind in ("ident", "keyword", "symbol", "number")]
    n = len(code)
    percents = {t.start for t in code if t.kind == "symbol" and t.text[0] == "%"}  # (one set test per ident)

    def fire(hit: tuple[str, str, str | None], tok: Token) -> None:
        if (hit[2] is None or hit[2] not in options) and not (literal and hit[0] in _INERT_IN_LITERAL):
            raise _Found(hit[0], hit[1], tok)

    for i, t in enumerate(code):
        kind, text = t.kind, t.text
        if kind == "symbol":
            if text == "@[":
                _check_attributes(code, i, pol)
            elif text == "+" and i + 1 < n and code[i + 1].text == "native" and "allow_native_decide" not in options:
                raise _Found("native_decide", BUILTIN_RULES["native_decide"], code[i + 1])
            continue
        if kind == "keyword" and text.startswith("#"):
            rule = _HASH_RULES.get(text, "command")
            raise _Found(rule, BUILTIN_RULES[rule], t)
        if text == "scoped" and i > 0 and code[i - 1].text == "open":
            continue  # `open scoped X in`
        hit = pol.words.get(text)
        if hit is not None and not (text in _AESOP_PHASES and _in_aesop_add(code, i)):
            fire(hit, t)
        if kind != "ident":
            continue
        if percents and t.end in percents:
            # `binop%`, `gen_injective_theorems%`: one token to Lean (the token table's longest match wins
            # over the identifier, tokenFn in src/Lean/Parser/Basic.lean), an identifier and a symbol here
            hit = pol.words.get(text + "%")
            if hit is not None:
                fire(hit, t)
        parts = _name_parts(text)
        if len(parts) > 1 or parts != [text]:
            for p in parts:
                hit = pol.parts.get(p) or pol.words.get(p)
                if hit is not None:
                    fire(hit, t)
        if "lc" in text and not literal and any(_lc_axiom(p) for p in parts):
            raise _Found("lc_axiom", pol.words["lcProof"][1], t)
        if parts and (parts[0] in pol.namespaces):
            raise _Found("environment", BUILTIN_RULES["environment"], t)
        if text == "native" and i + 1 < n and code[i + 1].text == ":=" and "allow_native_decide" not in options:
            raise _Found("native_decide", BUILTIN_RULES["native_decide"], t)
        if text == "set_option":
            _check_option(code, i, pol)
        elif literal:
            continue  # `open`, `noncomputable` as English words of a string: they run nothing
        elif text == "open":
            _check_open(code, i, pol)
        elif text == "noncomputable":
            nxt = code[i + 1].text if i + 1 < n else ""
            if nxt not in _DECL_AFTER_NONCOMPUTABLE and nxt not in ("private", "protected"):
                raise _Found("scope", "`noncomputable` must be followed by a declaration (no `noncomputable section`)", t)


def _in_aesop_add(code: list[Token], i: int) -> bool:
    """Whether ``code[i]`` (`unsafe`) is a rule phase inside an `aesop (add ...)` clause: the innermost
    open `(` before it is followed by `add`, and before that `(` come only other `(...)` clauses
    back to `aesop`/`aesop?`."""
    depth = 0
    j = i - 1
    while j >= 0:  # the innermost unclosed `(`
        x = code[j].text
        if x in (")", "]", "}", "⟩", "⦄"):
            depth += 1
        elif x in ("(", "[", "{", "⟨", "⦃", "@["):
            if depth == 0:
                break
            depth -= 1
        j -= 1
    if j < 0 or code[j].text != "(" or j + 1 >= len(code) or code[j + 1].text != "add":
        return False
    k = j - 1
    while k >= 0 and code[k].text == ")":  # skip earlier clauses: `aesop (config := ...) (add ...)`
        depth = 0
        while k >= 0:
            x = code[k].text
            depth += x == ")"
            depth -= x == "("
            k -= 1
            if depth == 0:
                break
    return k >= 0 and code[k].text in ("aesop", "aesop?")


_CHAIN_TARGETS = frozenset({"theorem", "lemma", "def", "abbrev", "example", "noncomputable", "private",
                            "protected", "@[", "set_option", "open"})


def _check_line_starts(text: str, toks: list[Token]) -> None:
    """A word at column 0 of model code must begin an allowed command (or continue a declaration):
    an unknown command keyword of Lean or Mathlib at the start of a line is refused even when no word
    list knows it. So is the first word of a line that starts with a comment (`/- -/ recall ...`).
    A command-level `set_option ... in` / `open ... in` chain at column 0 must lead to a declaration
    (not `set_option maxHeartbeats 1 in count_heartbeats in ...`). (Proof lines are indented; a
    command can also start mid-line, which the word lists and the reference comparison cover.)"""
    code: list[Token] | None = None
    chained = -1  # the chain already walked reaches this index (each link is walked once)
    prev_end = 0
    for t in toks:
        start, end = t.start, prev_end
        prev_end = t.end
        if t.depth or t.kind != "ident":
            continue
        if start and text[start - 1] != "\n":
            # not column 0: only comments before it on a line whose first character is one of them?
            if start - end <= 1:
                continue  # glued to the previous token or one space after it: mid-line (the usual case)
            nl = text.rfind("\n", end, start)  # (a newline between the previous token and this one)
            if (nl < 0 and end > 0) or text[nl + 1] in " \n":
                continue
        if t.text not in _LINE_STARTS:
            raise _Found("command", f"`{t.text}` at the start of a line is not an allowed command "
                         "(theorem, lemma, def, abbrev, example, open ... in, set_option)", t)
        if t.text in ("set_option", "open"):
            if code is None:
                code = [x for x in toks if x.kind in ("ident", "keyword", "symbol", "number")]
                where = {x.start: j for j, x in enumerate(code)}
            if where[t.start] > chained:
                chained = _check_chain(code, where[t.start])


def _check_chain(code: list[Token], i: int) -> int:
    """`set_option A v in open B in ... X`: what the chain qualifies must be a declaration. Returns the
    index of what follows the chain."""
    n = len(code)
    k = i
    while k < n and code[k].text in ("set_option", "open"):
        if code[k].text == "set_option":
            j = k + 3
        else:
            j = k + 1
            while j < n and code[j].kind == "ident" and code[j].text != "in":
                j += 1
        if j >= n or code[j].text != "in":
            return k  # not a chain (a bare `open` or a malformed option is refused elsewhere)
        k = j + 1
    if i < k < n and code[k].text not in _CHAIN_TARGETS:
        raise _Found("command", f"`{code[k].text}` after a `set_option ... in` / `open ... in` chain is not a "
                     "declaration", code[k])
    return k


def _check_literal(part: Token, toks: list[Token], pol: Policy, options: frozenset[str]) -> None:
    """The literal text of an interpolated string must read as harmless code too: after a parse error
    inside `{...}`, Lean's command loop resumes at the error, inside the string, and reads the rest of
    it as commands (src/Lean/Parser/StrInterpolation.lean sets the error there; Module.lean's
    parseCommand restarts at it). ``part`` is the reading's marker (where the string part lies)."""
    if toks and toks[0].kind == "error":
        raise _Found("interpolation", f"{BUILTIN_RULES['interpolation']}: its text does not read as code "
                     f"({toks[0].text})", part)
    try:
        _check_tokens(toks, pol, options, literal=True)
    except _Found as f:  # at the string's place in the whole text
        raise _Found(f.rule, f"{f.message}, in the text of an interpolated string", part) from None


def _readings(readings: Readings) -> list[tuple[Token | None, list[Token]]]:
    """Cut the lexer's one stream (:func:`tokenize_readings`) at its ``reading`` markers: (marker, tokens)
    per reading, in order; the first reading (Lean's) has no marker."""
    stream = readings.tokens
    if not readings.marks:
        return [(None, stream)]
    out: list[tuple[Token | None, list[Token]]] = []
    marker: Token | None = None
    start = 0
    for k in readings.marks:
        out.append((marker, stream[start:k]))
        marker, start = stream[k], k + 1
    out.append((marker, stream[start:]))
    return out


def _check_option(code: list[Token], i: int, pol: Policy) -> None:
    name = code[i + 1] if i + 1 < len(code) else None
    if name is None or name.kind != "ident":
        raise _Found("set_option", BUILTIN_RULES["set_option"], code[i])
    opt = name.text
    if opt not in pol.options and not any(opt.startswith(p) for p in pol.option_prefixes):
        raise _Found("set_option", BUILTIN_RULES["set_option"], name)
    val = code[i + 2] if i + 2 < len(code) else None  # every allowed option takes a number or a Bool
    if val is None or not (val.kind == "number" and val.text.isdigit() or val.text in ("true", "false")):
        raise _Found("set_option", BUILTIN_RULES["set_option"], val or name)


_BODY_OPEN_NAME = re.compile(r"^«|[A-Z]")


def _check_open(code: list[Token], i: int, pol: Policy) -> None:
    j = i + 1
    if j < len(code) and code[j].text == "scoped":
        j += 1  # `open scoped BigOperators in`: Mathlib's scoped notation, still only `... in`
    names = 0
    while j < len(code) and code[j].kind == "ident" and code[j].text != "in":
        if code[j].text in _OPEN_MODIFIERS:
            raise _Found("open", BUILTIN_RULES["open"], code[j])
        if not _BODY_OPEN_NAME.search(code[j].text):
            # a command keyword (`set_option`, Mathlib's snake_case ones) would end the list there and
            # leave a bare `open` for the rest of the file: a name here must hold a capital (no keyword
            # does) or be escaped
            raise _Found("open", "a name in an `open ... in` list must be a namespace with a capital letter "
                         "(`open Nat in`, `open intervalIntegral in`) or escaped (`open «foo» in`): a keyword "
                         "there would end the list and leave a bare `open`", code[j])
        if _name_parts(code[j].text)[0] in pol.namespaces:
            raise _Found("environment", BUILTIN_RULES["environment"], code[j])
        names += 1
        j += 1
    if names == 0 or j >= len(code) or code[j].text != "in":
        raise _Found("open", BUILTIN_RULES["open"], code[i])


def _check_attributes(code: list[Token], i: int, pol: Policy) -> None:
    """``@[a, b args, ...]``: the first word of every item must be on the allow-list."""
    depth = 0
    expect_name = True
    bare = False
    for t in code[i + 1:]:
        if bare and t.text in (",", "]"):
            bare = False
        if t.text in ("(", "[", "{", "⟨", "⦃", "@["):
            depth += 1
        elif t.text in (")", "}", "⟩", "⦄") or (t.text == "]" and depth > 0):
            depth -= 1
        elif t.text == "]":
            return
        elif depth == 0 and t.text == ",":
            expect_name = True
            continue
        if bare:  # `@[simps (config := t)]`: Mathlib evaluates `t`; `simps` only bare
            raise _Found("attribute", "`simps` with arguments (Mathlib evaluates a `config`): only a bare `@[simps]`", t)
        if expect_name:
            if t.kind != "ident" or t.text not in pol.attributes:
                named = pol.words.get(t.text)  # @[implemented_by], @[csimp]: say what it is
                if named is not None:
                    raise _Found(named[0], named[1], t)
                raise _Found("attribute", BUILTIN_RULES["attribute"], t)
            expect_name = False
            bare = t.text == "simps"
    raise _Found("attribute", "an attribute list `@[` that is never closed", code[i])


def _blanked(text: str, toks: list[Token]) -> str:
    """The text with comments and string contents replaced by spaces (newlines kept): for user rules."""
    out = ["\n" if ch == "\n" else " " for ch in text]
    for t in toks:
        if t.kind in ("ident", "keyword", "symbol", "number", "name_lit"):
            out[t.start:t.end] = text[t.start:t.end]
    return "".join(out)


# -- the fast path ---------------------------------------------------------------------------------
# Most candidates contain nothing the screen refuses. A few C-speed passes over the UTF-8 bytes
# (bytes.translate, substring search, a split) prove that for a text, or hand it to the exact lexer:
# the fast path may only ever say "passes" where the exact path says so too (tests/test_screen.py
# checks that on generated texts), so anything whose Lean reading it is not sure of goes the exact way.


# controls -> 1 (tab and CR included: Lean refuses tabs and lone CRs; CRLF goes the exact way too),
# the rest unchanged
_CTRL = bytes(1 if (c < 32 and c != 10) or c == 127 else c for c in range(256))
# left in the code after comments and strings are cut out: a quote, a backquote (name literal or
# quotation), `#` (a command), `@[` (attributes), or a comment opener that was not a comment
_LEFT = (b'"', b"`", b"#", b"--", b"/-")  # and `@[`
# Characters no Lean token starts with (lexer._BAD) and « »: their UTF-8 forms after a lead byte.
_BAD_C2 = re.compile(rb"\xc2[\x80-\xa0\xab\xad\xbb]")
_BAD_E2 = re.compile(rb"\xe2(?:\x80[\x80-\x8f\xa8-\xaf]|\x81[\x9f-\xaf]|\x9f\xa9'|\xa6\x84')")
# lead bytes of rarer scripts that hold such characters too (Arabic, Syriac, Mongolian and Ogham
# spaces, CJK space, BOM, specials, surrogates): any of them sends the text the exact way
_BAD_LEADS = (b"\xd8", b"\xdb", b"\xdc", b"\xe1", b"\xe3", b"\xed", b"\xef")
# Comments and plain strings, cut out in one pass, left to right, as Lean's `whitespace` and
# `strLitFnAux` meet them. A comment counts only where the exact lexer reads one (not glued to a
# symbol); a block comment only when it holds no other `/-` (nesting); a string only with escapes Lean
# accepts and not right after r, ', # or \ (raw strings, char literals). What does not match stays in
# the code, where a leftover `--`, `/-`, `-/` or `"` sends the text the exact way.
_CUT = re.compile(
    # (each body is an unrolled loop: one way to match any text, so a failed match backtracks linearly)
    rb"--(?:(?<=[ \n(\[{,;]--)|(?<=:=--)|(?<=\A--))[^\n]*"
    rb"|/-(?:(?<=[ \n(\[{,;]/-)|(?<=:=/-)|(?<=\A/-))(?!-/)[^-/]*(?:(?:-(?!/)|/(?!-))[^-/]*)*-/"
    rb'|"(?<![r\x27#\\]")[^"\\]*(?:\\(?:[\\"\x27nt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|\n *+(?!\n))[^"\\]*)*"(?!\x27)'
    # a char literal where a token starts (not after an identifier character or a UTF-8 byte: a quote
    # after a non-ASCII character is decided below)
    rb"|\x27(?:(?<=[ \n(\[{,;]\x27)|(?<=\A\x27))(?:[^\x27\\\n\x80-\xff]|[\xc0-\xff][\x80-\xbf]+"
    rb"|\\(?:[\\\x22\x27nt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}))\x27"
)
# Lean's ASCII identifier characters stay, everything else becomes a space (non-ASCII letters too: a
# word can then only look more like a trigger, never less).
_WORD_TABLE = bytes(c if chr(c).isascii() and (chr(c).isalnum() or chr(c) in "_'!?") else 0x20 for c in range(256))
# a word at the start of a line (column 0), or a non-ASCII character there; a word glued to a non-ASCII
# character or a dot (`calcα`, `calc.x`: one identifier to Lean) goes the exact way
_LINE_WORD = re.compile(rb"\n([A-Za-z_][A-Za-z0-9_'!?]*[.\x80-\xff]?|[\x80-\xff])")
_ASCII_ID = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'!?")
_ID_MASK = bytes(0x61 if c >= 0x80 or c in _ASCII_ID else 0x20 for c in range(256))
_CODE_AFTER_COMMENT = re.compile(rb"-/ *[^ \n]")  # something after a block comment's end on its line
_GLUED_PERCENT = re.compile(rb"[A-Za-z0-9_'!?\x80-\xff]%")
_ID_REST_CHAR = re.compile(f"[{_ID_REST}]")
_ID_FIRST_CHAR = re.compile(f"[{_ID_FIRST}]")
# interpolation prefixes, cut at `[` where they have one: after them a string is code, not text
_INTERP_WORDS = ("s!", "f!", "m!", "throwError", "throwErrorAt", "dbg_trace", "println!", "trace", "aesop_trace",
                 "aesop_trace!")


@lru_cache(maxsize=1)
def _trigger_words() -> frozenset[bytes]:
    """Every word of the code the exact path has a rule about (words, name parts, namespaces, the
    structural words, interpolation prefixes); dotted names are split into parts: only more caution."""
    pol = policy()
    words = {*pol.words, *pol.parts, *pol.namespaces, "open", "set_option", "noncomputable", "native", "_root_",
             *_INTERP_WORDS}
    return frozenset(w.encode() for w in words if re.fullmatch(r"[A-Za-z0-9_'!?]+", w))


def passes_fast(text: str) -> bool:
    """True only when the text surely passes the exact screen (False: the exact lexer decides)."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    # (Costs, 64 KB on this machine: a one-byte `in` is memchr, ~1 us; a two-byte `in` or a regex
    # scan 35-300 us. So: one-byte tests first, loops only over the rare bytes they find.)
    if 1 in raw.translate(_CTRL) or _digit_quote(raw) or any(b in raw for b in _BAD_LEADS):
        return False
    if (b"\xc2" in raw and _BAD_C2.search(raw)) or _BAD_E2.search(raw):
        return False
    code = _CUT.sub(b" ", raw)
    # (a stray `-/` needs no check: outside a comment it is a symbol for the exact path too)
    if any(b in code for b in _LEFT) or (b"@" in code and b"@[" in code):
        return False
    if not _quotes_are_primes(code):
        return False
    # `binop%`, `clear%`: a word glued to `%` is one token to Lean (the exact path joins them)
    if b"%" in code and _GLUED_PERCENT.search(code):
        return False
    words = code.translate(_WORD_TABLE)
    for m in _LINE_WORD.finditer(b"\n" + code):  # a word at column 0 must begin an allowed command
        w = m.group(1)
        if w[-1] >= 0x80 or w[-1] == 0x2E or w.decode() not in _LINE_STARTS:
            return False
    ws = set(words.split())  # a proof repeats its words: the loop below sees each once
    triggers = _trigger_words()
    if not triggers.isdisjoint(ws):
        return False
    for w in ws:
        if 0x30 <= w[0] <= 0x39:
            if not w.isdigit():
                return False  # a number glued to more (`2sorry`, `2e5x`, `2!sorry`): Lean splits it
        elif w[0] in b"'!?":  # led by quotes, `!` or `?`: Lean reads a token after them (`!sorry`, `α'sorry`)
            rest = w.lstrip(b"'!?")
            if rest in triggers or (rest[:1].isdigit() and not rest.isdigit()) or _lc_word(rest):  # (`!2sorry`)
                return False
        elif w[0] == 0x6C and _lc_word(w):  # `lcProof`, any `lc` + a capital
            return False
    # the first word of a line that starts with a comment (`/- -/ recall`): after a block comment's
    # end, anything but spaces and a newline on its line goes the exact way
    if b"-/" in raw and _CODE_AFTER_COMMENT.search(raw):
        return False
    return True


def _lc_word(w: bytes) -> bool:
    return len(w) > 2 and w[0] == 0x6C and w[1] == 0x63 and 0x41 <= w[2] <= 0x5A


def _digit_quote(raw: bytes) -> bool:
    """A quote right after a digit anywhere (it may start a char literal): the exact path decides."""
    k = raw.find(b"'", 1)
    while k >= 0:
        if 0x30 <= raw[k - 1] <= 0x39:
            return True
        k = raw.find(b"'", k + 1)
    return False


def _quotes_are_primes(code: bytes) -> bool:
    """Every quote left in the code (char literals were cut) must be a prime inside an identifier: the
    run of identifier characters before it must begin with an identifier start (a letter, `_`, a
    letter-like symbol), not a digit, `!`, `?`, a quote or a subscript (`!'a'`, `2'`, `₂'` are symbols and
    char literals to Lean, which the exact path reads)."""
    k = code.find(b"'")
    if k < 0:
        return True
    mask = code.translate(_ID_MASK)  # ASCII identifier characters and every non-ASCII byte -> "a"
    while k >= 0:
        start = mask.rfind(b" ", 0, k) + 1  # (a run never splits a UTF-8 character: it ends at ASCII)
        run = code[start:k]
        if not run:
            return False
        if run.isascii():
            c = run[0]
            if not (0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c == 0x5F):
                return False
        elif not _ends_in_identifier(run):
            return False
        k = code.find(b"'", k + 1)
    return True


@lru_cache(maxsize=4096)
def _ends_in_identifier(run: bytes) -> bool:
    """Whether the identifier characters at the end of ``run`` begin with an identifier start."""
    text = run.decode("utf-8", "replace")
    i = len(text)
    while i > 0 and _ID_REST_CHAR.match(text[i - 1]):
        i -= 1
    return i < len(text) and _ID_FIRST_CHAR.match(text[i]) is not None


def screen_text(text: str, options: frozenset[str] = frozenset()) -> tuple[str, str, int, str] | None:
    """(rule, message, offset, excerpt) of the first refusal in model-written ``text``, or None."""
    if passes_fast(text):
        return None
    return screen_exact(text, options)


def screen_exact(text: str, options: frozenset[str] = frozenset()) -> tuple[str, str, int, str] | None:
    """``screen_text`` through the exact lexer only."""
    pol = policy()
    try:
        readings = tokenize_readings(text)  # Lean's reading, then (with an interpolated string) the others
    except LexError as e:
        return "lex", f"{BUILTIN_RULES['lex']}: {e.message}", e.offset, text[e.offset:e.offset + 40]
    try:
        for marker, toks in _readings(readings):
            if marker is None:  # Lean's reading of a file that parses
                _check_tokens(toks, pol, options)
                _check_line_starts(text, toks)
            elif marker.text == "literal":
                _check_literal(marker, toks, pol, options)
            elif toks and toks[0].kind == "error":  # after a parse error Lean reads every string plainly
                e_at = toks[0].start
                return ("interpolation", f"{BUILTIN_RULES['interpolation']}: {toks[0].text}", e_at,
                        text[e_at:e_at + 40])
            else:  # what is code in the plain reading must pass too
                _check_tokens(toks, pol, options)
    except _Found as f:
        return f.rule, f.message, f.tok.start, text[f.tok.start:f.tok.start + 60]
    return None


_TRAILING = frozenset({"private", "protected", "noncomputable", "in", "]", "unsafe", "partial"})


def _trailing_modifier(helpers: str) -> tuple[str, str, int, str] | None:
    """Helpers may not end in something that applies to the reference statement after them (`open X in`,
    `private`, an attribute); a chain of `set_option NAME V in` is the one exception (maxHeartbeats for
    the statement), and every link of the chain is checked (no `open X in set_option ... in`)."""
    toks = [t for t in tokenize(helpers) if t.kind in ("ident", "keyword", "symbol", "number")]
    k = len(toks)
    while k >= 4 and toks[k - 1].text == "in" and toks[k - 4].text == "set_option":
        k -= 4  # `set_option NAME V in`: the option itself was screened with the rest
    if k == 0 or toks[k - 1].text not in _TRAILING:
        return None
    last = toks[k - 1]
    return ("scope", "the helpers end in a modifier that would apply to the reference statement "
            "(`open ... in`, `private`, an attribute)", last.start, helpers[last.start:last.start + 40])


_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_']*(?:\.[A-Za-z_][A-Za-z0-9_']*)*")
# header-only options a file may turn off (`set_option autoImplicit false`): never on, never in the body
_HEADER_OFF_OPTIONS = frozenset({"autoImplicit", "relaxedAutoImplicit"})
_UNIVERSE_NAME = re.compile(r"[a-z](?:_?[0-9]+|[₀-₉]+)?")


def _open_name_ok(t: Token, pol: Policy) -> bool:
    """A namespace a header line opens: a plain dotted name (sent escaped unless it starts with a capital),
    not a word that means something else there, never a forbidden namespace."""
    return (t.kind == "ident" and escaped_name(t.text) is not None and t.text not in _OPEN_NOT_NAMES
            and t.text not in ("Type", "Sort", "Prop") and t.text not in pol.words  # `namespace`, `variable`
            and not any(p in pol.namespaces for p in _name_parts(t.text)))


def screen_header(text: str) -> tuple[str, str, int, str] | None:
    """(rule, message, offset, excerpt) of the first header line the model wrote that is not one complete
    command of the header allow-list, or None. The one rule for every input form (a file's, stdin's or
    a `code` row's leading lines, a chat answer's): each line holds at most one of

    * ``import M`` with ``M`` under ``import_roots`` (rules.toml; no ``runtime``, no ``«»``);
    * ``open [scoped] A B ...`` without ``in`` (it would qualify the next line), no ``renaming`` or
      ``private``, and no forbidden namespace (``Lean``, ``IO``, ...); or ``open A hiding x y`` /
      ``open A (x y)`` with one namespace, whose names Lean is sent escaped (``lexer.header_command``);
    * ``set_option NAME V`` with ``NAME`` on the body's option allow-list and ``V`` a number or
      ``true``/``false``, nothing after it (no ``in``);
    * ``universe u v``;

    and comments (the code tokens of a command on its line; a comment may span lines). Everything
    else (``macro_rules``, ``@[...]``, ``run_meta``, ``set_option ... in`` followed by a command, a
    second command after the first, a string) is refused."""
    pol = policy()
    try:
        lines = header_lines(text)
    except LexError as e:
        return "header", f"{BUILTIN_RULES['header']}: {e.message}", e.offset, text[e.offset:e.offset + 40]
    for line in lines:
        bad = _header_line_fault(line, pol)
        if bad is not None:
            return "header", BUILTIN_RULES["header"], bad.start, text[line[0].start:line[0].start + 60]
    return None


def _header_line_fault(line: list[Token], pol: Policy) -> Token | None:
    """The first token of one header line (its code tokens) that the header allow-list refuses."""
    head, args = line[0], line[1:]
    if head.kind != "ident":
        return head
    if head.text == "import":
        if len(args) != 1 or args[0].kind != "ident" or not _ASCII_NAME.fullmatch(args[0].text):
            return args[0] if args else head
        return None if args[0].text.split(".")[0] in pol.import_roots else args[0]
    if head.text == "open" and (listed := open_name_list(line)) is not None:
        # `open NS hiding a b` / `open NS (a b)`: one namespace, then names Lean is sent escaped
        # (`«a»`, lexer.header_command), which no keyword can be, so the list cannot end in a command
        ns, names, _ = listed
        if not _open_name_ok(ns, pol):
            return ns
        bad = [t for t in names if t.kind != "ident" or escaped_name(t.text) is None]
        return bad[0] if bad else None
    if head.text == "open":
        names = args[1:] if args and args[0].text == "scoped" else args
        for t in names:
            # the lexer reads keywords as identifiers: a namespace that does not start with a capital
            # (`intervalIntegral`, or a keyword) is sent escaped (lexer.header_command), so no second
            # command (`open Nat set_option …`, `open Nat namespace Foo`) hides in the list; the words
            # that would mean something else here are refused outright, for a clear reason
            if not _open_name_ok(t, pol):
                return t
        return None if names else head
    if head.text == "set_option":
        if len(args) != 2 or args[0].kind != "ident":
            return args[2] if len(args) > 2 else head
        opt, val = args
        if opt.text in _HEADER_OFF_OPTIONS and val.text == "false":
            return None  # turns a convenience off: nothing can elaborate that did not without it
        if opt.text not in pol.options and not any(opt.text.startswith(p) for p in pol.option_prefixes):
            return opt
        if val.kind == "number" and val.text.isdigit() or val.kind == "ident" and val.text in ("true", "false"):
            return None
        return val
    if head.text == "universe":
        # `u`, `v₁`, `u_1`: a universe name is never a keyword then (`universe u set_option …` is refused)
        bad = [t for t in args if t.kind != "ident" or not _UNIVERSE_NAME.fullmatch(t.text)]
        return bad[0] if bad or not args else None
    return head


def _texts(c: Candidate) -> list[tuple[str, int, str]]:
    """(region, offset in body, text) of what the model wrote: all of a free-form body at once."""
    if not c.statement:
        return [("proof", 0, c.body)] if c.body else []
    return c.regions()


def screen(candidate: Candidate, rules: tuple[Rule, ...] | list[Rule] | None = None,
           options: frozenset[str] = frozenset()) -> ScreenHit | None:
    """The first refusal in the candidate's model-written code (helpers, proof), or None.

    ``rules`` are a user's extra regex rules, applied after the allow-list. The header lines the model
    wrote (``candidate.model_header``) are held to the header allow-list first (:func:`screen_header`)."""
    if candidate.model_header:
        got = screen_header(candidate.model_header)
        if got is not None:
            rule, message, at, excerpt = got
            return ScreenHit(rule, message, "header", at, excerpt.split("\n")[0].strip()[:60],
                             line=candidate.model_header.count("\n", 0, at) + 1)
    for region, offset, text in _texts(candidate):
        got = screen_text(text, options)
        if got is None and region == "helpers" and candidate.statement:
            got = _trailing_modifier(text)
        if got is not None:
            rule, message, at, excerpt = got
            return ScreenHit(rule, message, region, offset + at, excerpt.split("\n")[0].strip()[:60])
        for rule in rules or ():
            if rule.unless and rule.unless in options:
                continue
            if rule.where != "all" and rule.where != region:
                continue
            m = rule.pattern.search(_blanked(text, tokenize(text)))
            if m:
                excerpt = text[m.start(): m.end() + 20].split("\n")[0].strip()[:60]
                return ScreenHit(rule.id, rule.message, region, offset + m.start(), excerpt)
    return None
