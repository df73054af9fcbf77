"""The SQLite result cache: a verdict per (Lean version, manifest hash, header, candidate, gate options)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from bridge.verify.verdict import Verdict

CACHEABLE = frozenset({"proved", "failed", "incomplete", "rejected"})  # not timeouts or crashes
GATE_VERSION = "1"  # bump when a rule changes what a cached verdict would be


def cache_key(lean_version: str, manifest_hash: str, header: str, body: str, options: str) -> str:
    h = hashlib.sha256()
    for part in (GATE_VERSION, lean_version, manifest_hash, header, body, options):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class ResultCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, created REAL)")
        self.db.commit()

    def get(self, key: str) -> Verdict | None:
        row = self.db.execute("SELECT verdict FROM verdicts WHERE key = ?", (key,)).fetchone()
        return Verdict.from_json(json.loads(row[0])) if row else None

    def put(self, key: str, verdict: Verdict) -> None:
        if verdict.verdict not in CACHEABLE:
            return
        self.db.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)",
                        (key, json.dumps(verdict.to_json(), ensure_ascii=False), time.time()))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
