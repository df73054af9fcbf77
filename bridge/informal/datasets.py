"""Informal datasets: MATH / MATH-500, GSM8K, AIME and AMC (the AI-MO validation sets), NuminaMath-CoT, and
any JSONL of ``{"id", "problem", "answer", "solution"?, "level"|"band"?, "source"?}`` rows, read into one
record (:class:`InformalProblem`).

Named sets are specs in ``datasets/*.toml`` (``informal_only = true``; their ``[fields]`` table maps this
module's field names onto the source's), found and downloaded as formal ones are
(:func:`bridge.data.loader.resolve`). The gold answer is the ``answer`` field; a GSM8K answer (rationale,
``####``, number) gives its number; without an answer field, the reference solution's last ``\\boxed{}``.
Rows are validated as formal rows are: every bad row is reported as ``FILE:LINE: reason`` and nothing is
loaded (:func:`parse_informal_rows`, pure).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import jsonl
from bridge.data.bands import prior_band
from bridge.data.problem import Problem
from bridge.data.specs import DatasetSpec, generic_spec, get_spec
from bridge.data.validate import RowError, refuse_bad_rows
from bridge.errors import InputError
from bridge.informal.extract import gold_from_gsm8k, gold_from_solution
from bridge.informal.problem import InformalProblem

if TYPE_CHECKING:
    from bridge.config import BridgeConfig

INFORMAL_BANDS = ("simple", "intermediate", "advanced")
# this module's names -> the source's field names (a spec's [fields] table overrides them)
FIELDS = {"id": "id", "split": "split", "problem": "problem", "answer": "answer", "solution": "solution",
          "level": "level", "band": "band", "source": "source", "formal_statement": "formal_statement",
          "header": "header"}
_LEVEL = re.compile(r"^\s*(?:level\s*)?([1-9])\s*$", re.I)


def field_map(spec: DatasetSpec) -> dict[str, str]:
    """The field names of a spec's rows: ours, with the spec's own ``[fields]`` entries for our names."""
    out = dict(FIELDS)
    if spec.spec_path is not None:  # a named spec: its table speaks our names (and informal_statement)
        out.update({k: v for k, v in spec.fields.items() if k in FIELDS})
        if "problem" not in spec.fields and "informal_statement" in spec.fields:
            out["problem"] = spec.fields["informal_statement"]
    return out


def parse_level(value: Any) -> int | None | str:
    """``3``, ``"3"``, ``"Level 3"`` -> 3; absent -> None; anything else -> the reason it is bad."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return f"`level` is {value!r}, not a level 1-9"
    if isinstance(value, int) and 1 <= value <= 9:
        return value
    m = _LEVEL.match(str(value)) if isinstance(value, str) else None
    return int(m.group(1)) if m else f"`level` is {value!r}, not a level such as 3 or \"Level 3\""


def _text(value: Any) -> str | None:
    """A string field, or a number written as one (AIME answers are integers in some copies)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


def row_to_problem(row: dict[str, Any], lineno: int, spec: DatasetSpec,
                   fields: dict[str, str]) -> InformalProblem | str:
    """One decoded row -> a problem, or the reason it is malformed."""
    problem = row.get(fields["problem"])
    if not isinstance(problem, str) or not problem.strip():
        return f"no problem text (field \"{fields['problem']}\")"
    solution = row.get(fields["solution"])
    solution = solution if isinstance(solution, str) else ""
    raw_answer = row.get(fields["answer"])
    answer = _text(raw_answer)
    if raw_answer is not None and answer is None:
        return f"`{fields['answer']}` is {type(raw_answer).__name__}, not a string or a number"
    if answer is not None:
        gsm = gold_from_gsm8k(answer)
        if gsm is not None:  # GSM8K: the rationale is the solution, the number the answer
            answer, solution = gsm[0], solution or gsm[1]
    elif solution:
        answer = gold_from_solution(solution)
    if answer is None or not answer.strip():
        return (f"no gold answer (field \"{fields['answer']}\", or a \\boxed{{}} in \"{fields['solution']}\")")
    level = parse_level(row.get(fields["level"]))
    if isinstance(level, str):
        return level
    band = row.get(fields["band"])
    if band is not None and band not in INFORMAL_BANDS:
        return f"`band` is {band!r}, not one of {', '.join(INFORMAL_BANDS)}"
    pid = row.get(fields["id"])
    if pid is None or pid == "":
        pid = row.get("name")
    pid = str(pid) if pid not in (None, "") else f"{spec.name}-{lineno}"
    split = str(row.get(fields["split"]) or "test")
    if band is None:
        # one rule for bands everywhere: MATH level 1-2 simple, 3-4 intermediate, 5 advanced; else the spec's
        stand_in = Problem(id=pid, split=split, header="", formal_statement="", name=pid,
                           tags=[f"level {level}"] if level else [])
        band = prior_band(stand_in, spec.band_rules, spec.default_band)
    stmt = row.get(fields["formal_statement"])
    header = row.get(fields["header"])
    source = row.get(fields["source"])
    return InformalProblem(id=pid, split=split, problem=problem, answer=answer.strip(), solution=solution,
                           level=level, band=band, source=str(source) if isinstance(source, str) and source else spec.name,
                           formal_statement=stmt if isinstance(stmt, str) else "",
                           header=header if isinstance(header, str) else "")


def parse_informal_rows(raw_lines: Sequence[bytes], spec: DatasetSpec) -> tuple[list[InformalProblem], list[RowError]]:
    """Every row of a file -> problems, plus every row error (the caller refuses to half-load). A repeated
    id within a split is an error on its later rows, which are not also returned."""
    fields = field_map(spec)
    problems: list[InformalProblem] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, row, bad in jsonl.rows(raw_lines):
        if bad:
            errors.append(RowError(lineno, bad))
            continue
        if not isinstance(row, dict):
            errors.append(RowError(lineno, "a row must be a JSON object"))
            continue
        got = row_to_problem(row, lineno, spec, fields)
        if isinstance(got, str):
            errors.append(RowError(lineno, got))
            continue
        key = (got.split, got.id)
        if key in seen:
            errors.append(RowError(lineno, f"duplicate id {got.id!r} in split {got.split!r} (first on line {seen[key]})"))
            continue
        seen[key] = lineno
        problems.append(got)
    return problems, errors


def informal_spec(name_or_path: str) -> tuple[DatasetSpec, Path | None]:
    """The spec a dataset argument is read with, and the file when it is a path."""
    from bridge.data.loader import looks_like_path, spec_for_path

    if looks_like_path(name_or_path):
        p = Path(name_or_path)
        if not p.is_file():
            raise InputError(f"{p}: no such file", "give a JSONL file of {\"id\", \"problem\", \"answer\"} rows "
                             "or a dataset name")
        return spec_for_path(p), p
    return get_spec(name_or_path), None


def read_informal_file(path: Path, spec: DatasetSpec) -> list[InformalProblem]:
    problems, errors = parse_informal_rows(jsonl.read_lines(path), spec)
    refuse_bad_rows(path, errors, "fix the rows; each needs a problem and a gold answer (`answer`, or a \\boxed{} "
                    "in `solution`)")
    return problems


def load_informal(name_or_path: str, cfg: BridgeConfig, split: str | None = None) -> list[InformalProblem]:
    """Problems of a named informal dataset or a JSONL file, in file order (one split, when given)."""
    from bridge.data.loader import resolve

    spec, path = informal_spec(name_or_path)
    if path is None and not spec.informal_only:
        raise InputError(f"{spec.name} is a formal dataset (Lean statements, no gold answers)",
                         "give an informal dataset (bridge data list: math500, gsm8k, aime, amc, numinamath_cot) "
                         "or a JSONL file of {\"id\", \"problem\", \"answer\"} rows")
    res = resolve(spec if path is None else generic_spec(path), cfg, path=path)
    problems = read_informal_file(res.path, spec)
    if split is not None:
        problems = [p for p in problems if p.split == split]
    return problems
