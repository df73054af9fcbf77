"""``bridge card RUN_DIR``: a model card (``RUN_DIR/README.md``) rendered with jinja2 from the run's own
records: an iterate run (``rounds.json``, the last trained round's ``training_summary.json`` and
``data.json``, the last ``eval/report.json``) or a ``bridge train sft`` output (``training_summary.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from bridge.errors import InputError
from bridge.train.data import LEAN_BAND
from bridge.train.rounds import base_eval, finished_rounds, ks_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                          autoescape=False, trim_blocks=False)


@dataclass
class CardConfig:
    run_dir: Path
    out: Path | None = None  # default RUN_DIR/README.md
    bar_width: int = 30


def share_bar(ratio: float, width: int = 30) -> str:
    """The trainable share as a bar of ``width`` cells; a share too small for one cell shows a sliver."""
    ratio = min(max(ratio, 0.0), 1.0)
    filled = round(ratio * width)
    if ratio > 0 and filled == 0:
        return "▏" + "░" * (width - 1)
    return "█" * filled + "░" * (width - filled)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def card_context(run_dir: Path, bar_width: int = 30) -> dict[str, Any]:
    """Everything the card shows, from the files of a run (no model is loaded)."""
    run_dir = Path(run_dir)
    rounds = finished_rounds(run_dir)
    meta = _read(run_dir / "iterate.json") or {}
    fixed = meta.get("fixed", {})
    if rounds:
        trained = [r for r in rounds if (run_dir / f"round-{r['round']}" / "training_summary.json").is_file()]
        last = trained[-1] if trained else rounds[-1]
        rd = run_dir / f"round-{last['round']}"
        summary = _read(rd / "training_summary.json") or {}
        data = _read(rd / "data.json") or {}
        evals = [r for r in rounds if r.get("heldout")]
        report = _read(run_dir / f"round-{evals[-1]['round']}" / "eval" / "report.json") if evals else None
        which = f"round {evals[-1]['round']}" if evals else ""
    elif (run_dir / "training_summary.json").is_file():
        summary, data, report, which = _read(run_dir / "training_summary.json"), {}, None, ""
    else:
        raise InputError(f"{run_dir}: neither rounds.json nor training_summary.json",
                         "give a `bridge iterate --run-dir` or a `bridge train sft --out` directory")
    base_model = summary.get("base_model") or meta.get("base_model") or fixed.get("model")
    counts = (summary.get("model") or {}).get("parameter_counts")
    band_rows = data.get("bands") or (summary.get("data") or {}).get("bands") or {}
    total_rows = sum(band_rows.values())
    bands = [{"band": b, "rows": n, "share": n / total_rows if total_rows else 0.0} for b, n in sorted(band_rows.items())]
    evaluation = None
    if report:
        evaluation = {"ks": list(report.get("pass_at_k", {})), "pass_at_k": report.get("pass_at_k", {}),
                      "dataset": report.get("dataset"), "split": report.get("split"),
                      "problems": report.get("problems_total"), "samples": report.get("samples"),
                      "solved": report.get("solved"), "sampling": json.dumps(report.get("sampling")),
                      "template": report.get("template"), "lean_version": report.get("lean_version"),
                      "estimator": report.get("estimator"), "which": which}
    losses = summary.get("loss") or []
    hp = summary.get("hyperparameters") or {}
    ks = ks_of(rounds)
    base = base_eval(run_dir)
    if base:
        ks = sorted(set(ks) | set(base.get("pass_at_k", {})), key=int)
    gate_rows = band_rows.get(LEAN_BAND, 0) if rounds else 0  # iterate: sampled in its rounds and gate-checked
    return {
        "gate_rows": gate_rows,
        "data_rows": (total_rows or (summary.get("data") or {}).get("rows", 0)) - gate_rows,
        "data_bands": [b for b in sorted(band_rows) if b != LEAN_BAND or not rounds],
        "train_data": summary.get("train_data"),
        "title": f"{Path(str(base_model)).name} + bridge LoRA" + (f" ({len(rounds)} rounds of expert iteration)"
                                                                  if rounds else ""),
        "base_model": base_model,
        "base_model_url": base_model if "://" in str(base_model) or Path(str(base_model)).exists()
        else f"https://huggingface.co/{base_model}",
        "template": summary.get("template") or meta.get("template"),
        "format": summary.get("format", "completion"),
        "adapter": summary.get("adapter"),
        "init_adapter": summary.get("init_adapter"),
        "pool": fixed.get("pool"), "pool_size": meta.get("pool_size"), "samples": fixed.get("samples"),
        "max_per_statement": (fixed.get("data") or {}).get("max_per_statement"),
        "train_on": (fixed.get("data") or {}).get("train_on", "all"),
        "decontam": (fixed.get("data") or {}).get("decontam"),
        "dropped": len((data.get("decontamination") or {}).get("dropped_statements", [])),
        "rows": total_rows or (summary.get("data") or {}).get("rows", 0),
        "tokens": summary.get("train_tokens"),
        "bands": bands,
        "rounds": rounds,
        "ks": ks,
        "base_eval": base,
        "strict_all": bool(rounds) and all(r.get("strict") for r in rounds),
        "strict_reason": next((r.get("strict_reason") for r in rounds if not r.get("strict")), None),
        "counts": counts,
        "bar": share_bar(counts["ratio"], bar_width) if counts else "",
        "hp": hp,
        "evaluation": evaluation,
        "train_loss": summary.get("train_loss"),
        "first_loss": losses[0]["loss"] if losses else None,
        "steps": summary.get("steps"),
        "wall": summary.get("wall_time_s"),
        "versions": summary.get("versions") or {},
        "pct": _pct,
    }


def render_card(run_dir: Path, bar_width: int = 30) -> str:
    return _ENV.get_template("model_card.md.jinja").render(**card_context(run_dir, bar_width))


def write_card(cfg: CardConfig) -> Path:
    out = cfg.out or Path(cfg.run_dir) / "README.md"
    out.write_text(render_card(cfg.run_dir, cfg.bar_width), encoding="utf-8")
    return out
