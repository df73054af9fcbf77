"""The SQLite result cache: a verdict per (Lean version, manifest hash, header, candidate, gate options,
the strict checker's hash, the screen rules' hash).

Each row also records the checker's and the rules' hash it was decided under, and ``get`` only returns a
row recorded under the ones asked for. The file is not protected from a process that runs with the
user's rights outside the sandbox (``--no-sandbox``), so under ``--strict`` the verifier never takes a
cached ``proved`` (see ``Verifier.verify``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from bridge.verify.verdict import Verdict

CACHEABLE = frozenset({"proved", "failed", "incomplete", "rejected"})  # not timeouts or crashes
# bump when a rule changes what a cached verdict would be. 2: the key holds the checker's and the screen
# rules' hashes (issue 25)
GATE_VERSION = "2"
TABLE = "verdicts_v2"  # rows of GATE_VERSION 1 (table `verdicts`) are never read again


def cache_key(lean_version: str, manifest_hash: str, header: str, body: str, options: str, *,
              checker_hash: str = "", rules_hash: str = "") -> str:
    h = hashlib.sha256()
    for part in (GATE_VERSION, lean_version, manifest_hash, header, body, options, checker_hash, rules_hash):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def fingerprint(files: Iterable[str | Path], extra: str = "") -> str:
    """SHA-256 over the bytes of ``files`` (in the order given; a missing file counts as empty) and ``extra``."""
    h = hashlib.sha256()
    for f in files:
        try:
            data = Path(f).read_bytes()
        except OSError:
            data = b""
        h.update(hashlib.sha256(data).digest())
    h.update(extra.encode("utf-8"))
    return h.hexdigest()


class ResultCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, "
                        "created REAL, checker TEXT NOT NULL, rules TEXT NOT NULL)")
        self.db.commit()

    def get(self, key: str, *, checker_hash: str = "", rules_hash: str = "") -> Verdict | None:
        row = self.db.execute(f"SELECT verdict, checker, rules FROM {TABLE} WHERE key = ?", (key,)).fetchone()
        if row is None or (row[1], row[2]) != (checker_hash, rules_hash):
            return None
        return Verdict.from_json(json.loads(row[0]))

    def put(self, key: str, verdict: Verdict, *, checker_hash: str = "", rules_hash: str = "") -> None:
        if verdict.verdict not in CACHEABLE:
            return
        self.db.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?)",
                        (key, json.dumps(verdict.to_json(), ensure_ascii=False), time.time(), checker_hash,
                         rules_hash))
        self.db.commit()

    def close(self) -> None:
        self.db.close()
