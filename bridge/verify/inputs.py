"""Reading candidates from a ``.lean`` file or a JSONL file, one row at a time.

JSONL rows are ``{"id", "header", "code"}`` or ``{"id", "header", "formal_statement", "proof"}``;
``header`` is optional (``import Mathlib``). A bad row raises InputError naming ``FILE:LINE`` and why,
after the rows before it were handed on, so their verdicts are not lost.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bridge.errors import InputError
from bridge.jsonl import RowDecodeError, decode_row
from bridge.verify.candidate import Candidate, from_code, from_parts, per_theorem_candidate

MAX_CANDIDATE_BYTES = 1_000_000  # a longer candidate gets a `size` verdict; it is never sent to Lean


def _fix(path: Path | str) -> str:
    return f"fix or remove that row of {path} and run again (verdicts already printed stay valid)"


def candidate_from_row(row: object, path: Path | str, lineno: int) -> Candidate:
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
    return c


def oversize(c: Candidate) -> int | None:
    """The candidate's size in bytes when it is over the limit (it gets a `size` verdict), else None."""
    size = len((c.header + c.body).encode("utf-8"))
    return size if size > MAX_CANDIDATE_BYTES else None


OnBadRow = Callable[[InputError], None]


def read_jsonl(path: Path | str, stream: BinaryIO | None = None, on_bad_row: OnBadRow | None = None
               ) -> Iterator[Candidate]:
    """Candidates of a JSONL file (or ``stream``). A bad row raises InputError (``FILE:LINE: why``),
    or, with ``on_bad_row``, is handed to it and skipped. Duplicate ids are always an error."""
    seen: dict[str, int] = {}
    f = stream if stream is not None else open(path, "rb")
    try:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                try:
                    row = decode_row(raw)
                except RowDecodeError as e:
                    hint = "re-encode the file as UTF-8" if "UTF-8" in str(e) else _fix(path)
                    raise InputError(f"{path}:{lineno}: {e}", hint) from None
                c = candidate_from_row(row, path, lineno)
            except InputError as e:
                if on_bad_row is None:
                    raise
                on_bad_row(e)
                continue
            if c.id in seen:
                raise InputError(f"{path}:{lineno}: duplicate id {c.id!r} (first on line {seen[c.id]})",
                                 "give every row its own id")
            seen[c.id] = lineno
            yield c
    finally:
        if stream is None:
            f.close()


def _decode(data: bytes, path: Path | str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})", "re-encode the file as UTF-8") from None


def lean_candidates(text: str, name: str, per_theorem: bool = False) -> list[Candidate]:
    """A `.lean` file: one candidate gating every theorem it declares, or one per theorem."""
    # the file's own header lines are model text: from_code keeps them for the header screen
    whole = from_code(name, None, text, default_header="")  # a file is checked with its own imports only
    if not per_theorem or len(whole.theorems) <= 1:
        return [whole]
    return [per_theorem_candidate(name, whole.header, whole.body, t, whole.model_header) for t in whole.theorems]


def read_lean(path: Path, per_theorem: bool = False) -> Iterator[Candidate]:
    yield from lean_candidates(_decode(path.read_bytes(), path), path.stem, per_theorem)


STDIN = "-"


def read_candidates(path: str | Path, *, per_theorem: bool = False, on_bad_row: OnBadRow | None = None
                    ) -> Iterator[Candidate]:
    """Candidates from a `.lean` file, a JSONL file, or ``-`` (standard input: JSONL, or Lean text when
    its first non-blank character is not ``{``)."""
    if str(path) == STDIN:
        data = sys.stdin.buffer.read()
        if data.lstrip()[:1] == b"{":
            return read_jsonl("<stdin>", io.BytesIO(data), on_bad_row)
        return iter(lean_candidates(_decode(data, "<stdin>"), "stdin", per_theorem))
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory", "give a .lean file, a .jsonl file of candidates, or - for stdin")
    if not path.exists():
        raise InputError(f"{path}: no such file", "give a .lean file, a .jsonl file of candidates, or - for stdin")
    if path.suffix == ".lean":
        return read_lean(path, per_theorem)
    if path.suffix in (".jsonl", ".json", ".ndjson") or not path.is_file():  # /dev/stdin, a named pipe
        return read_jsonl(path, on_bad_row=on_bad_row)
    raise InputError(f"{path}: expected a .lean or .jsonl file", "rename the file or convert it")
