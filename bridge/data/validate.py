"""Row validation: pure functions from a decoded row to a Problem, or a reason it is malformed."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from bridge import jsonl
from bridge.data.problem import Problem
from bridge.data.specs import DatasetSpec
from bridge.errors import InputError
from bridge.verify.lean_text import mask, statement_name

_HEADER_OK = re.compile(r"^\s*(import|open|set_option|universe)\b")
_HEADER_DEFS = re.compile(r"^\s*(def|abbrev|noncomputable|theorem|lemma|instance|structure|class|namespace|"
                          r"section|end|variable|attribute|local|scoped|@\[|\||macro|notation|infix)")


@dataclass
class RowError:
    line: int
    reason: str

    def format(self, path: object) -> str:
        return f"{path}:{self.line}: {self.reason}"


def refuse_bad_rows(path: object, errors: list[RowError], next_step: str) -> None:
    """A file with any bad row loads nothing: InputError listing them (the first 20) as FILE:LINE: reason."""
    if errors:
        shown = "\n  ".join(e.format(path) for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputError(f"{path}: {len(errors)} malformed row(s); nothing was loaded:\n  {shown}{more}", next_step)


def check_statement(statement: str) -> str | None:
    kind, name = statement_name(statement)
    if kind not in ("theorem", "lemma", "def"):
        return "the statement is not a `theorem`, `lemma` or `def`"
    if not name:
        return "the statement has no name"
    tail = mask(statement).rstrip()
    if not (tail.endswith(":= by") or tail.endswith(":=")):
        return "the statement does not end in `:= by` or `:=`"
    return None


def check_header(header: str, allow_definitions: bool) -> str | None:
    """Headers hold imports, options and opens; dataset headers that define things need the spec's leave."""
    masked = mask(header).splitlines()
    in_def = False
    for i, line in enumerate(masked, 1):
        if not line.strip():
            in_def = False
            continue
        if _HEADER_OK.match(line):
            in_def = False
            continue
        if allow_definitions and (_HEADER_DEFS.match(line) or in_def or line[:1].isspace()):
            in_def = True
            continue
        return f"the header has a command outside imports/options/opens (header line {i}: `{line.strip()[:60]}`)"
    return None


def parse_rows(raw_lines: list[bytes], spec: DatasetSpec) -> tuple[list[Problem], list[RowError]]:
    """Every row of a file -> problems, plus every row error (the caller refuses to half-load)."""
    f = spec.fields
    problems: list[Problem] = []
    errors: list[RowError] = []
    lines: list[int] = []
    for lineno, row, bad in jsonl.rows(raw_lines):
        if bad:
            errors.append(RowError(lineno, bad))
            continue
        if not isinstance(row, dict):
            errors.append(RowError(lineno, "a row must be a JSON object"))
            continue
        stmt = row.get(f["formal_statement"])
        if spec.informal_only:
            informal = row.get(f["informal_statement"])
            if not isinstance(informal, str) or not informal.strip():
                errors.append(RowError(lineno, f"no informal statement (field \"{f['informal_statement']}\")"))
                continue
            problems.append(Problem(id=str(row.get(f["id"]) or lineno), split=str(row.get(f["split"]) or "test"),
                                    header="", formal_statement="", informal_statement=informal,
                                    source=spec.name, tags=list(row.get("tags") or []),
                                    name=str(row.get(f["id"]) or lineno)))
            lines.append(lineno)
            continue
        if not isinstance(stmt, str) or not stmt.strip():
            errors.append(RowError(lineno, f"no statement (field \"{f['formal_statement']}\")"))
            continue
        bad = check_statement(stmt)
        if bad:
            errors.append(RowError(lineno, bad))
            continue
        header = row.get(f["header"])
        header = spec.default_header if header is None else header
        if not isinstance(header, str):
            errors.append(RowError(lineno, "the header is not a string"))
            continue
        bad = check_header(header, spec.header_definitions)
        if bad:
            errors.append(RowError(lineno, bad))
            continue
        _, decl = statement_name(stmt)
        pid = row.get(f["id"]) or decl
        split = row.get(f["split"]) or "test"
        tags = row.get("tags") or []
        problems.append(Problem(
            id=str(pid), split=str(split), header=header, formal_statement=stmt,
            informal_statement=str(row.get(f["informal_statement"]) or ""),
            informal_solution=str(row.get(f["informal_solution"]) or ""),
            source=spec.name, tags=list(tags) if isinstance(tags, list) else [], name=decl or str(pid),
        ))
        lines.append(lineno)
    # ids: unique per split; a spec may tell repeated names apart by their statement's hash. A repeated
    # row is an error and is not also returned as a problem: good + malformed = the rows of the file.
    counts = Counter((p.split, p.id) for p in problems)
    keep = [True] * len(problems)
    seen: dict[tuple[str, str], int] = {}
    for i, (p, lineno) in enumerate(zip(problems, lines, strict=True)):
        key = (p.split, p.id)
        if counts[key] > 1:
            if spec.duplicate_ids == "hash-suffix":
                p.id = f"{p.id}@{hashlib.sha256(p.formal_statement.encode()).hexdigest()[:8]}"
            elif key in seen:
                errors.append(RowError(lineno, f"duplicate id {p.id!r} in split {p.split!r} (first on line {seen[key]})"))
                keep[i] = False
            seen.setdefault(key, lineno)
    first: dict[tuple[str, str], int] = {}
    for i, (p, lineno) in enumerate(zip(problems, lines, strict=True)):
        key = (p.split, p.id)
        if keep[i] and key in first:  # hash-suffix: the same name with the same statement
            errors.append(RowError(lineno, f"id {p.id!r} repeats in split {p.split!r} with the same statement "
                                   f"(first on line {first[key]})"))
            keep[i] = False
        first.setdefault(key, lineno)
    problems = [p for p, k in zip(problems, keep, strict=True) if k]
    return problems, sorted(errors, key=lambda e: e.line)
