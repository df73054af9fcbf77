"""Small, pure helpers over Lean source text: masking comments and strings, finding declarations."""

from __future__ import annotations

import re

_IDENT = r"[^\s():\[\]{}⦃⦄⟨⟩,]+"
DECL_RE = re.compile(
    r"(?m)^[ \t]*(?:@\[[^\]]*\][ \t\n]*)*(?:(?:private|protected|noncomputable|nonrec)[ \t]+)*"
    r"(?P<kind>theorem|lemma|def|abbrev|example|instance|axiom|opaque)(?:[ \t]+(?P<name>" + _IDENT + r"))?"
)


def mask(text: str) -> str:
    """``text`` with comments and string/char literals replaced by spaces (newlines kept).

    Positions are preserved, so a match in the masked text points into the original.
    """
    out = list(text)
    i, n, depth = 0, len(text), 0
    while i < n:
        c = text[i]
        if depth == 0 and text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
        elif text.startswith("/-", i):
            depth += 1
            out[i] = out[i + 1] = " "
            i += 2
        elif depth > 0 and text.startswith("-/", i):
            depth -= 1
            out[i] = out[i + 1] = " "
            i += 2
        elif depth > 0:
            if c != "\n":
                out[i] = " "
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                if text[k] != "\n":
                    out[k] = " "
            i = j + 1
        elif c == "'" and i + 2 < n and (text[i + 2] == "'" or (text[i + 1] == "\\" and i + 3 < n and text[i + 3] == "'")):
            # a char literal 'a' or '\n'; a prime in a name (h', x'') is not preceded by a quote pair
            if i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_'."):
                i += 1
                continue
            j = i + (3 if text[i + 1] == "\\" else 2)
            for k in range(i, j + 1):
                out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def top_level_assign(text: str, start: int = 0) -> int:
    """Index of the first ``:=`` at bracket depth 0 at or after ``start`` in masked text, or -1."""
    depth = 0
    m = mask(text)
    for i in range(start, len(m) - 1):
        c = m[i]
        if c in "([{⦃⟨":
            depth += 1
        elif c in ")]}⦄⟩":
            depth = max(0, depth - 1)
        elif c == ":" and m[i + 1] == "=" and depth == 0:
            return i
    return -1


def declarations(text: str) -> list[re.Match[str]]:
    """Declarations in ``text`` (outside comments and strings), in order."""
    return list(DECL_RE.finditer(mask(text)))


def find_declaration(text: str, name: str) -> re.Match[str] | None:
    """The last declaration named ``name`` (a model that restates a theorem restates it last)."""
    found = None
    for m in declarations(text):
        if m.group("name") == name:
            found = m
    return found


def statement_name(statement: str) -> tuple[str | None, str | None]:
    """(kind, name) of the first declaration of a reference statement."""
    ds = declarations(statement)
    if not ds:
        return None, None
    return ds[0].group("kind"), ds[0].group("name")
