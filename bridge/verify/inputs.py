"""Reading candidates from a ``.lean`` file or a JSONL file, one row at a time.

JSONL rows are ``{"id", "header", "code"}`` or ``{"id", "header", "formal_statement", "proof"}``;
``header`` is optional (``import Mathlib``). A bad row raises InputError naming ``FILE:LINE`` and why,
after the rows before it were handed on, so their verdicts are not lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bridge.errors import InputError
from bridge.jsonl import RowDecodeError, decode_row
from bridge.verify.candidate import Candidate, from_code, from_parts, split_header

MAX_CANDIDATE_BYTES = 1_000_000  # a longer candidate is refused with a row error, not sent to Lean


def _fix(path: Path) -> str:
    return f"fix or remove that row of {path} and run again (verdicts already printed stay valid)"


def candidate_from_row(row: object, path: Path, lineno: int) -> Candidate:
    where = f"{path}:{lineno}"
    if not isinstance(row, dict):
        raise InputError(f"{where}: a row must be a JSON object, got {type(row).__name__}", _fix(path))
    if "id" not in row:
        raise InputError(f"{where}: the row has no \"id\"", _fix(path))
    header = row.get("header")
    if header is not None and not isinstance(header, str):
        raise InputError(f"{where}: \"header\" must be a string", _fix(path))
    if "code" in row:
        code = row["code"]
        if not isinstance(code, str):
            raise InputError(f"{where}: \"code\" must be a string", _fix(path))
        c = from_code(str(row["id"]), header, code)
    elif "formal_statement" in row and "proof" in row:
        if not isinstance(row["formal_statement"], str) or not isinstance(row["proof"], str):
            raise InputError(f"{where}: \"formal_statement\" and \"proof\" must be strings", _fix(path))
        c = from_parts(str(row["id"]), header, row["formal_statement"], row["proof"])
    else:
        raise InputError(f"{where}: the row needs \"code\", or \"formal_statement\" and \"proof\"", _fix(path))
    size = len((c.header + c.body).encode("utf-8"))
    if size > MAX_CANDIDATE_BYTES:
        raise InputError(f"{where}: candidate {c.id!r} is {size:,} bytes, over the {MAX_CANDIDATE_BYTES:,}-byte limit",
                         "a proof this long is almost surely degenerate model output: drop the row")
    return c


def read_jsonl(path: Path) -> Iterator[Candidate]:
    seen: set[str] = set()
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = decode_row(raw)
            except RowDecodeError as e:
                hint = "re-encode the file as UTF-8" if "UTF-8" in str(e) else _fix(path)
                raise InputError(f"{path}:{lineno}: {e}", hint) from None
            c = candidate_from_row(row, path, lineno)
            if c.id in seen:
                raise InputError(f"{path}:{lineno}: duplicate id {c.id!r}", "give every row its own id")
            seen.add(c.id)
            yield c


def read_lean(path: Path) -> Iterator[Candidate]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})", "re-encode the file as UTF-8") from None
    header, body = split_header(text)
    yield from_code(path.stem, header, body)


def read_candidates(path: str | Path) -> Iterator[Candidate]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file", "give a .lean file or a .jsonl file of candidates")
    if path.suffix == ".lean":
        return read_lean(path)
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    raise InputError(f"{path}: expected a .lean or .jsonl file", "rename the file or convert it")
