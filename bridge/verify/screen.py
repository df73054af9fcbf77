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
from bridge.verify.lexer import INTERPOLATION_PREFIXES, LexError, Token, tokenize, tokenize_plain

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

    def reason(self, body: str) -> str:
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
}
_HASH_RULES = {"#exit": "exit", "#guard_msgs": "guard_msgs", "#eval": "eval", "#eval!": "eval", "#reduce": "eval",
               "#print": "eval", "#exec": "eval"}
_OPEN_MODIFIERS = frozenset({"private", "hiding", "renaming", "scoped", "local", "in_namespace"})
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
                  frozenset(ids))


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


def _check_tokens(toks: list[Token], pol: Policy, options: frozenset[str]) -> None:
    """Raise _Found at the first token the allow-list refuses."""
    code = [t for t in toks if t.kind in ("ident", "keyword", "symbol")]
    n = len(code)
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
        hit = pol.words.get(text)
        if hit is not None and (hit[2] is None or hit[2] not in options):
            raise _Found(hit[0], hit[1], t)
        if kind != "ident":
            continue
        parts = _name_parts(text)
        if len(parts) > 1 or parts != [text]:
            for p in parts:
                hit = pol.parts.get(p) or pol.words.get(p)
                if hit is not None and (hit[2] is None or hit[2] not in options):
                    raise _Found(hit[0], hit[1], t)
        if parts and (parts[0] in pol.namespaces):
            raise _Found("environment", BUILTIN_RULES["environment"], t)
        if text == "native" and i + 1 < n and code[i + 1].text == ":=" and "allow_native_decide" not in options:
            raise _Found("native_decide", BUILTIN_RULES["native_decide"], t)
        if text == "set_option":
            _check_option(code, i, pol)
        elif text == "open":
            _check_open(code, i, pol)
        elif text == "noncomputable":
            nxt = code[i + 1].text if i + 1 < n else ""
            if nxt not in _DECL_AFTER_NONCOMPUTABLE and nxt not in ("private", "protected"):
                raise _Found("scope", "`noncomputable` must be followed by a declaration (no `noncomputable section`)", t)


def _check_option(code: list[Token], i: int, pol: Policy) -> None:
    name = code[i + 1] if i + 1 < len(code) else None
    if name is None or name.kind != "ident":
        raise _Found("set_option", BUILTIN_RULES["set_option"], code[i])
    opt = name.text
    if opt not in pol.options and not any(opt.startswith(p) for p in pol.option_prefixes):
        raise _Found("set_option", BUILTIN_RULES["set_option"], name)


def _check_open(code: list[Token], i: int, pol: Policy) -> None:
    j = i + 1
    names = 0
    while j < len(code) and code[j].kind == "ident" and code[j].text != "in":
        if code[j].text in _OPEN_MODIFIERS:
            raise _Found("open", BUILTIN_RULES["open"], code[j])
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
    for t in code[i + 1:]:
        if t.text in ("(", "[", "{", "⟨", "⦃", "@["):
            depth += 1
        elif t.text in (")", "}", "⟩", "⦄") or (t.text == "]" and depth > 0):
            depth -= 1
        elif t.text == "]":
            return
        elif depth == 0 and t.text == ",":
            expect_name = True
            continue
        if expect_name:
            if t.kind != "ident" or t.text not in pol.attributes:
                named = pol.words.get(t.text)  # @[implemented_by], @[csimp]: say what it is
                if named is not None:
                    raise _Found(named[0], named[1], t)
                raise _Found("attribute", BUILTIN_RULES["attribute"], t)
            expect_name = False
    raise _Found("attribute", "an attribute list `@[` that is never closed", code[i])


def _blanked(text: str, toks: list[Token]) -> str:
    """The text with comments and string contents replaced by spaces (newlines kept): for user rules."""
    out = ["\n" if ch == "\n" else " " for ch in text]
    for t in toks:
        if t.kind in ("ident", "keyword", "symbol", "number", "name_lit"):
            out[t.start:t.end] = text[t.start:t.end]
    return "".join(out)


def screen_text(text: str, options: frozenset[str] = frozenset()) -> tuple[str, str, int, str] | None:
    """(rule, message, offset, excerpt) of the first refusal in model-written ``text``, or None."""
    pol = policy()
    try:
        toks = tokenize(text)
    except LexError as e:
        return "lex", f"{BUILTIN_RULES['lex']}: {e.message}", e.offset, text[e.offset:e.offset + 40]
    try:
        _check_tokens(toks, pol, options)
        if any(t.kind == "keyword" and t.text in INTERPOLATION_PREFIXES for t in toks):
            # after a parse error Lean reads every string plainly: what is then code must pass too
            try:
                plain = tokenize_plain(text)
            except LexError as e:
                return ("interpolation", f"{BUILTIN_RULES['interpolation']}: {e.message}", e.offset,
                        text[e.offset:e.offset + 40])
            _check_tokens(plain, pol, options)
    except _Found as f:
        return f.rule, f.message, f.tok.start, text[f.tok.start:f.tok.start + 60]
    return None


def _texts(c: Candidate) -> list[tuple[str, int, str]]:
    """(region, offset in body, text) of what the model wrote: all of a free-form body at once."""
    if not c.statement:
        return [("proof", 0, c.body)] if c.body else []
    return c.regions()


def screen(candidate: Candidate, rules: tuple[Rule, ...] | list[Rule] | None = None,
           options: frozenset[str] = frozenset()) -> ScreenHit | None:
    """The first refusal in the candidate's model-written code (helpers, proof), or None.

    ``rules`` are a user's extra regex rules, applied after the allow-list."""
    for region, offset, text in _texts(candidate):
        got = screen_text(text, options)
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
