"""Decoding one JSONL row, with the reason in words when it cannot be decoded."""

from __future__ import annotations

import json
from typing import Any


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
