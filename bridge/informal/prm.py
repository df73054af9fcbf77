"""A process reward model: a token-classification head that scores each step of a solution at a step
token, step scores aggregated (min / last / product) for best-of-k selection, and its fine-tuning.

The input is laid out as trl's ``PRMTrainer.tokenize_row`` lays out its training rows (huggingface/trl,
``trl/trainer/prm_trainer.py``, at 61c7fa287dfc978ae1bc6837dc31689e7c4064c2): BOS (when the tokenizer has
one), the prompt's tokens, then for each step its tokens followed by the separator's, the label on the
last token of each step+separator (-100 everywhere else). Scoring reads the model at exactly those
positions, so a model trained here (or by trl) is scored where it was trained. Rows are trl's stepwise
format: ``{"prompt", "completions": [step, ...], "labels": [bool, ...]}``.

A step's score is the softmax probability of class 1 ("correct"); a one-label head is read through a
sigmoid. Steps cut off by ``max_length`` get no score; the aggregate is over the steps scored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from bridge import jsonl
from bridge.errors import InputError, SetupError

DEFAULT_SEPARATOR = "\n"  # trl's PRMConfig.step_separator


# -- pure ------------------------------------------------------------------------------------------


def tokenize_row(prompt_ids: list[int], step_ids: Sequence[list[int]], separator_ids: list[int],
                 labels: Sequence[int] | None, bos: int | None, max_length: int | None) -> tuple[list[int], list[int]]:
    """(input ids, labels): trl's layout (see the module docstring); ``labels`` None marks each step's
    position with 1 (scoring: the positions to read)."""
    marks = [1] * len(step_ids) if labels is None else [int(x) for x in labels]
    if len(marks) != len(step_ids):
        raise ValueError(f"{len(step_ids)} steps but {len(marks)} labels")
    steps = [list(s) + list(separator_ids) for s in step_ids]
    step_labels = [[-100] * (len(s) - 1) + [m] for s, m in zip(steps, marks, strict=True)]
    prompt = ([bos] if bos is not None else []) + list(prompt_ids)
    ids = prompt + list(chain(*steps))
    out = [-100] * len(prompt) + list(chain(*step_labels))
    if max_length is not None:
        ids, out = ids[:max_length], out[:max_length]
    return ids, out


def step_positions(labels: Sequence[int]) -> list[int]:
    return [i for i, x in enumerate(labels) if x != -100]


def aggregate(scores: Sequence[float], how: str) -> float | None:
    """One number per solution from its step scores: the weakest step (min), the last, or the product."""
    if not scores:
        return None
    if how == "min":
        return min(scores)
    if how == "last":
        return scores[-1]
    if how == "product":
        return math.prod(scores)
    raise ValueError(f"unknown aggregation {how!r}: min, last or product")


def aggregates(scores: Sequence[float]) -> dict[str, Any]:
    return {"scores": list(scores), "min": aggregate(scores, "min"), "last": aggregate(scores, "last"),
            "product": aggregate(scores, "product")}


# -- scoring ----------------------------------------------------------------------------------------


def _load(model: str, cls_name: str, **kw: Any) -> tuple[Any, Any]:
    try:
        import transformers
    except ImportError:
        raise SetupError("transformers/torch are not installed", 'pip install -e ".[ml]"') from None
    from bridge.models import NEXT_STEP_MODEL, model_source

    source, offline = model_source(model)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(source, local_files_only=offline)
        net = getattr(transformers, cls_name).from_pretrained(source, local_files_only=offline, **kw)
    except Exception as e:  # noqa: BLE001 - hub, file and format errors: one message with the next step
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise SetupError(f"cannot load the PRM {model}: {type(e).__name__}: {first}", NEXT_STEP_MODEL) from None
    return tok, net


class PRMScorer:
    """Step scores from a token-classification PRM (``AutoModelForTokenClassification``)."""

    def __init__(self, model: str, separator: str = DEFAULT_SEPARATOR, max_length: int = 4096,
                 device: str | None = None, batch_size: int = 8):
        import torch

        self.torch = torch
        self.tok, self.model = _load(model, "AutoModelForTokenClassification")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = self.model.to(self.device).eval()
        self.separator_ids = self.tok.encode(separator, add_special_tokens=False)
        if not self.separator_ids:
            raise InputError(f"the step separator {separator!r} encodes to no token")
        self.max_length = max_length
        self.batch_size = batch_size
        pad = self.tok.pad_token_id
        self.pad_id = pad if pad is not None else (self.tok.eos_token_id or 0)

    def encode(self, prompt: str, steps: Sequence[str]) -> tuple[list[int], list[int]]:
        enc = lambda s: self.tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
        ids, marks = tokenize_row(enc(prompt), [enc(s) for s in steps], self.separator_ids, None,
                                  self.tok.bos_token_id, self.max_length)
        return ids, step_positions(marks)

    def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """Per (prompt, steps): the score of each step that fits in ``max_length``."""
        torch = self.torch
        out: list[list[float]] = []
        for start in range(0, len(items), self.batch_size):
            batch = [self.encode(p, s) for p, s in items[start:start + self.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, (row, _) in enumerate(batch):
                ids[i, : len(row)] = torch.tensor(row)
                mask[i, : len(row)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            probs = logits.sigmoid()[..., 0] if logits.shape[-1] == 1 else logits.softmax(-1)[..., 1]
            out += [[float(probs[i, p]) for p in pos] for i, (_, pos) in enumerate(batch)]
        return out


# -- training ---------------------------------------------------------------------------------------


@dataclass
class PRMTrainConfig:
    epochs: float = 1.0
    max_steps: int = -1
    learning_rate: float = 2e-5
    batch_size: int = 4
    max_length: int = 2048
    separator: str = DEFAULT_SEPARATOR
    seed: int = 0
    logging_steps: int = 10


def read_step_rows(path: Path) -> list[dict[str, Any]]:
    """trl stepwise rows (what ``bridge prm labels`` writes), or FILE:LINE: reason for every bad row."""
    rows, errors = [], []
    for i, row, bad in jsonl.rows(jsonl.read_lines(path)):
        if bad:
            errors.append(f"{path}:{i}: {bad}")
            continue
        ok = (isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("completions"), list)
              and isinstance(row.get("labels"), list) and len(row["completions"]) == len(row["labels"])
              and row["completions"] and all(isinstance(s, str) for s in row["completions"])
              and all(isinstance(x, bool) or x in (0, 1) for x in row["labels"]))
        if not ok:
            errors.append(f"{path}:{i}: needs \"prompt\" (text), \"completions\" (steps) and \"labels\" (one bool "
                          "per step)")
            continue
        rows.append(row)
    if errors:
        raise InputError(f"{path}: {len(errors)} malformed row(s):\n  " + "\n  ".join(errors[:20]), "fix the rows")
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


def train_prm(rows: list[dict[str, Any]], model: str, out: Path, cfg: PRMTrainConfig) -> dict[str, Any]:
    """Fine-tune a token-classification PRM (2 labels; a causal LM gets a new head) with transformers'
    Trainer on trl's layout. Writes OUT (model, tokenizer) and OUT/prm_summary.json."""
    import torch
    from transformers import DataCollatorForTokenClassification, Trainer, TrainingArguments

    tok, net = _load(model, "AutoModelForTokenClassification", num_labels=2)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    net.config.pad_token_id = tok.pad_token_id
    sep = tok.encode(cfg.separator, add_special_tokens=False)
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    data = []
    for r in rows:
        ids, labels = tokenize_row(enc(r["prompt"]), [enc(s) for s in r["completions"]], sep,
                                   [int(x) for x in r["labels"]], tok.bos_token_id, cfg.max_length)
        data.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    out = Path(out)
    t0 = time.perf_counter()
    args = TrainingArguments(output_dir=str(out / ".trainer"), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
                             learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size,
                             logging_steps=cfg.logging_steps, save_strategy="no", report_to=[], seed=cfg.seed,
                             use_cpu=not torch.cuda.is_available(), disable_tqdm=True)
    trainer = Trainer(model=net, args=args, train_dataset=data, processing_class=tok,
                      data_collator=DataCollatorForTokenClassification(tok))
    result = trainer.train()
    net.save_pretrained(out)
    tok.save_pretrained(out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    summary = {"base_model": model, "rows": len(rows), "steps_labelled": sum(len(r["labels"]) for r in rows),
               "positive": sum(1 for r in rows for x in r["labels"] if x), "train_loss": result.training_loss,
               "losses": losses, "optimizer_steps": trainer.state.global_step, "config": cfg.__dict__,
               "layout": "trl PRMTrainer.tokenize_row (prompt, steps + separator, label on each step's last token)",
               "wall_time_s": time.perf_counter() - t0}
    (out / "prm_summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary
