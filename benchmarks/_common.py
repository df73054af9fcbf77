"""Shared by the benchmarks: the fake REPL command, a table printer, JSON output."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FAKE = ROOT / "tests" / "fakes" / "fake_repl.py"
RESULTS = ROOT / "benchmarks" / "results"


def fake_argv() -> list[str]:
    return [sys.executable, str(FAKE)]


def report(name: str, headers: list[str], rows: list[list[Any]], summary: dict[str, Any]) -> None:
    from bridge.cli.common import table

    print(table(rows, headers))
    for k, v in summary.items():
        print(f"{k}: {v}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps({"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
                               "columns": headers, "rows": rows, "summary": summary}, indent=1))
    print(f"wrote {out}")
