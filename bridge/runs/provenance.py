"""``RUN_DIR/provenance.json``: what produced a run directory's verdicts, in one record: the bridge version,
the Lean version, the Lake manifest's hash, the screen rules' hash, and whether the kernel checker and the
fast gate were in use. Every command that stores verdicts writes it when it starts; a resumed run made with
something else keeps the first record and lists the later ones under ``later``, so ``bridge replay`` can say
what changed between the verdicts and today's verifier."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge.verify.api import Verifier
from bridge.verify.screen import RULES_FILE

PROVENANCE = "provenance.json"
FIELDS = ("bridge_version", "lean_version", "lake_manifest_hash", "screen_rules_hash", "strict", "fast_gate")


@dataclass(frozen=True)
class Provenance:
    bridge_version: str
    lean_version: str
    lake_manifest_hash: str
    screen_rules_hash: str
    strict: bool  # the kernel checker re-checked every proved candidate
    fast_gate: bool  # a stand-in REPL's fast gate was allowed (--allow-fast-gate)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Provenance:
        return cls(**{k: d.get(k) for k in FIELDS})  # type: ignore[arg-type]


def rules_hash(verifier: Verifier) -> str:
    """The screen's rules: the built-in ``rules.toml`` and any user rules the verifier was given."""
    h = hashlib.sha256(RULES_FILE.read_bytes())
    for r in verifier.rules or ():
        h.update(f"\x00{r.id}\x00{r.pattern.pattern}\x00{r.where}\x00{r.unless}".encode())
    return h.hexdigest()[:16]


def of_verifier(verifier: Verifier) -> Provenance:
    from bridge.version import __version__

    return Provenance(__version__, verifier.launch.lean_version, verifier.launch.manifest_hash, rules_hash(verifier),
                      verifier.strict_checker is not None, bool(verifier.cfg.allow_fast_gate))


def read(run_dir: Path) -> dict[str, Any] | None:
    """The record of ``run_dir``, or None (no record: a run made before provenance was recorded)."""
    p = Path(run_dir) / PROVENANCE
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def record(run_dir: Path, verifier: Verifier) -> Provenance:
    """Write (or extend) RUN_DIR/provenance.json with what this verifier is; written whole or not at all."""
    now = of_verifier(verifier)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    old = read(run_dir)
    if old is None:
        data: dict[str, Any] = {**now.to_json(), "recorded": time.time(), "later": []}
    else:
        data = old
        known = [Provenance.from_json(old), *(Provenance.from_json(x) for x in old.get("later") or [])]
        if now in known:
            return now
        data.setdefault("later", []).append({**now.to_json(), "recorded": time.time()})
    p = run_dir / PROVENANCE
    tmp = p.with_name(p.name + ".part")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(p)
    return now


def changes(then: dict[str, Any] | None, now: Provenance) -> list[str]:
    """What differs between a recorded provenance (and its later records) and today's, one line each."""
    if then is None:
        return ["no provenance was recorded (a run made before provenance.json)"]
    out = []
    records = [then, *(then.get("later") or [])]
    for k in FIELDS:
        seen = [r.get(k) for r in records]
        cur = getattr(now, k)
        if any(v != cur for v in seen):
            was = ", ".join(dict.fromkeys(str(v) for v in seen))
            out.append(f"{k}: {was} -> {cur}")
    return out
