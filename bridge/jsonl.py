"""Decoding one JSONL row, with the reason in words when it cannot be decoded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bridge.errors import InputError


class RowDecodeError(ValueError):
    """A row that is not UTF-8 or not JSON; the message is the reason, ready for ``FILE:LINE: reason``."""


def decode_row(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RowDecodeError(f"not UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RowDecodeError(f"not valid JSON ({e.msg} at column {e.colno})") from None


def rows(lines: Iterable[bytes]) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, row, None) for each non-blank line, or (line number, None, reason) for one that
    cannot be decoded: the callers' loops collect ``FILE:LINE: reason`` and refuse to half-load."""
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            yield i, decode_row(raw), None
        except RowDecodeError as e:
            yield i, None, str(e)


def read_lines(path: Path) -> list[bytes]:
    """A JSONL file's lines, or an InputError that names it."""
    try:
        return Path(path).read_bytes().split(b"\n")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e}") from None


def write_json(path: Path, data: Any) -> None:
    """A JSON file written whole or not at all (a ``.part`` file, then renamed over the target)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
