"""One ``bridge synth`` run end to end (shared by the CLI and ``bridge.pipeline``): the items, their rows and
the report, and the files they go to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provers.synth.common import Seed
from provers.synth.report import build_report, markdown
from provers.synth.run import Synth
from provers.synth.screen import item_row

# settings a resumed run must share with the run it resumes
FIXED = ("kind", "source", "methods", "limit", "decontam", "ngram", "conjecture_settings")


@dataclass
class SynthOutcome:
    rows: list[dict[str, Any]]  # synthetic.jsonl
    report: dict[str, Any]
    stopped: bool


def synth_into(synth: Synth, seeds: list[Seed], meta: dict[str, Any]) -> SynthOutcome:
    """``bridge synth`` with a Synth over a store whose meta is set: the items, their rows and the report.
    A stopped run has neither: the same call again goes on."""
    out = synth.run(seeds)
    if synth.stopped:
        return SynthOutcome([], {}, True)
    report = build_report(seeds, out, synth.skips, synth.strict, meta, synth.conjecture_report)
    rows = [item_row(it, out["verdicts"][it.id], synth.strict[0], meta) for it in out["kept"]]
    return SynthOutcome(rows, report, False)


def write_outputs(run_dir: Path, out: SynthOutcome, dest: Path | None = None) -> list[Path]:
    """synthetic.jsonl (or ``dest``), report.json and report.md, each written whole or not at all."""
    from provers.formalize.funnel import write_jsonl

    run_dir = Path(run_dir)
    dest = Path(dest) if dest else run_dir / "synthetic.jsonl"
    write_jsonl(dest, out.rows)
    paths = [dest]
    for name, text in (("report.json", json.dumps(out.report, indent=1, ensure_ascii=False)),
                       ("report.md", markdown(out.report))):
        tmp = run_dir / (name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(run_dir / name)
        paths.append(run_dir / name)
    return paths
