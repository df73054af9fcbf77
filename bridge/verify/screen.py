"""The static screen: text rules that may reject a candidate before Lean sees it, never accept one.

The rules are data (``rules.toml`` beside this file, extendable by the user), so anyone can read what
is refused. Matching ignores comments and string literals.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bridge.errors import ConfigError
from bridge.verify.candidate import Candidate
from bridge.verify.lean_text import mask

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RULES_FILE = Path(__file__).with_name("rules.toml")

_MACROS = {"{B}": r"(?<![\w.'!?])", "{D}": r"(?<![\w'!?])", "{E}": r"(?![\w'!?])"}


@dataclass(frozen=True)
class Rule:
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


def _expand(pattern: str) -> str:
    for k, v in _MACROS.items():
        pattern = pattern.replace(k, v)
    return pattern


def load_rules(path: str | Path) -> list[Rule]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read screen rules: {e}", "fix the file or drop --screen-rules") from None
    rules = []
    for i, r in enumerate(data.get("rule", [])):
        try:
            rules.append(Rule(id=r["id"], pattern=re.compile(_expand(r["pattern"])), where=r.get("where", "all"),
                              message=r["message"], unless=r.get("unless")))
        except (KeyError, re.error) as e:
            raise ConfigError(f"{path}: rule #{i + 1} is invalid: {e!r}", "each rule needs id, pattern, message") from None
        if rules[-1].where not in ("all", "helpers", "proof"):
            raise ConfigError(f"{path}: rule '{r['id']}': where must be all, helpers or proof")
    return rules


@lru_cache(maxsize=8)
def default_rules() -> tuple[Rule, ...]:
    return tuple(load_rules(RULES_FILE))


def screen(candidate: Candidate, rules: tuple[Rule, ...] | list[Rule] | None = None,
           options: frozenset[str] = frozenset()) -> ScreenHit | None:
    """The first rule that fires on the candidate's helpers or proof, or None."""
    rules = default_rules() if rules is None else rules
    for region, offset, text in candidate.regions():
        masked = mask(text)
        for rule in rules:
            if rule.unless and rule.unless in options:
                continue
            if rule.where != "all" and rule.where != region:
                continue
            m = rule.pattern.search(masked)
            if m:
                excerpt = text[m.start(): m.end() + 20].split("\n")[0].strip()[:60]
                return ScreenHit(rule.id, rule.message, region, offset + m.start(), excerpt)
    return None
