"""``bridge export RUN_DIR``: a run's samples as JSONL, the verified proofs only or every sample."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge.cli.common import eprint
from bridge.cli.publish import add_push_flags, preflight, push_dataset
from bridge.cli.report import add_count_fast_gate_flag
from bridge.data.problem import Problem
from bridge.errors import RunDirError
from bridge.eval.report import counts_as_solved
from bridge.runs.store import RunStore, SampleRow
from bridge.verify.candidate import signature
from bridge.verify.verdict import Verdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's verified proofs (or every sample) as JSONL",
                       description="One JSON object per line: problem_id, split, header, formal_statement, "
                       "helpers (lemmas the model wrote before the theorem), proof (what follows the statement), "
                       "code (helpers + statement + proof: exactly what Lean checked), sample_id, round, model, "
                       "verdict, gate, reason, rule, completion (the model's raw answer), checker (\"stand-in\" for `bridge demo`'s "
                       "verdicts, which are not Lean's and never training data). --proved: the samples "
                       "verified as proved (fast-gate proofs only with --count-fast-gate); --all: every sample, "
                       "with its verdict (null when not yet verified).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--proved", action="store_true", help="one row per verified proof")
    which.add_argument("--all", action="store_true", help="every sample with its verdict")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    add_count_fast_gate_flag(p)
    add_push_flags(p, "the exported rows as a dataset repository (data/proofs.jsonl and a card)")
    p.set_defaults(func=run)


def split_body(body: str, statement: str) -> tuple[str, str]:
    """(helpers, proof) of a checked body: the text before and after the reference statement."""
    for stmt in (statement, _signature(statement)):
        if stmt and stmt in body:
            i = body.index(stmt)
            return body[:i], body[i + len(stmt):]
    return "", body


def _signature(statement: str) -> str:
    try:
        return signature(statement)
    except ValueError:
        return ""


def export_row(s: SampleRow, v: Verdict | None, problem: Problem | None, model: str | None) -> dict[str, Any]:
    statement = problem.formal_statement if problem else ""
    helpers, proof = split_body(s.body, statement)
    return {
        "problem_id": s.problem_id, "split": problem.split if problem else None, "header": s.header,
        "formal_statement": statement, "helpers": helpers, "proof": proof, "code": s.body,
        "sample_id": s.id, "round": s.round, "model": model,
        "verdict": v.verdict if v else None, "gate": v.gate if v and v.verdict == "proved" else None,
        "reason": v.reason if v else None, "rule": v.rule if v else None, "completion": s.completion,
        "checker": v.checker if v else None,  # "stand-in": not Lean's verdict (bridge demo)
    }


def rows(store: RunStore, proved_only: bool, count_fast_gate: bool) -> Iterator[dict[str, Any]]:
    meta = store.meta()
    demo = store.is_demo()
    model = meta.get("served_model") or meta.get("model")
    problems = {p.id: p for p in store.problems()}
    for s, v in store.samples():
        if proved_only and not (v is not None and counts_as_solved(v, count_fast_gate, demo)):
            continue
        yield export_row(s, v, problems.get(s.problem_id), model)


def run(args: argparse.Namespace) -> int:
    preflight(args)
    pushed: list[dict[str, Any]] = []
    with RunStore.open_existing(Path(args.run_dir)) as store:
        count_fast = bool(store.meta().get("count_fast_gate")) if args.count_fast_gate is None else args.count_fast_gate
        out = sys.stdout
        if args.output:
            try:
                out = open(args.output, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            except OSError as e:
                raise RunDirError(f"{args.output}: cannot write the export ({e.strerror or e})",
                                  "give -o a file path in a writable directory (not a directory)") from None
        n = 0
        try:
            for row in rows(store, args.proved, count_fast):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
                if args.push_to_hub:
                    pushed.append(row)
        finally:
            if out is not sys.stdout:
                out.close()
        meta = store.meta()
    eprint(f"exported {n} {'verified proof' if args.proved else 'sample'}(s)"
           + (f" to {args.output}" if args.output else ""))
    if args.push_to_hub:
        push_dataset(pushed, meta, Path(args.run_dir), args, proved_only=args.proved)
    return 0
