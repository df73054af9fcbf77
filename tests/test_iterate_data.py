"""A round's training set beyond the round's own proofs: `--synthetic` rows (`bridge synth` output) enter
the lean-formalized band only after decontamination and a fresh verdict, and informal rows that copy an
evaluation problem's words never reach training. No model and no training: the round's data step alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import InputError
from tests.test_iterate import write_pool
from tests.test_train_support import accepted, standin_cmd

STATEMENT = "theorem synth_ok (a : Nat) : a + 0 = a := by\n"


def _rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _proof(statement: str, want: bool) -> str:
    """A proof text the stand-in REPL accepts (or refuses), found by its known subset."""
    return next(p for p in (f"  simp -- variant {i}\n" for i in range(200)) if accepted(statement + p) is want)


def _iteration(tmp: Path, shared: Path, *extra: str):
    from bridge.cli import iterate as cli
    from bridge.cli.common import config_from_args
    from bridge.cli.main import build_parser
    from bridge.train.iterate import Iteration

    pool = tmp / "pool.jsonl"
    write_pool(pool, shared)
    argv = ["iterate", str(pool), "--model", "m", "--run-dir", str(tmp / "run"), "--template", "deepseek-v1.5",
            "--repl-cmd", standin_cmd(tmp), "--no-sandbox", "--no-cache", "--workers", "1",
            "--data-dir", str(shared), *extra]
    args = build_parser().parse_args(argv)
    cfg = cli.config_from(args)
    bcfg = config_from_args(argparse.Namespace(**{**vars(args), "strict": None}))
    log: list[str] = []
    it = Iteration(cfg, bcfg, log.append)
    it.prepare()
    return it, log


def test_synthetic_rows_are_decontaminated_and_verified_again_before_training(tmp_path: Path, shared_data: Path) -> None:
    import datasets
    from bridge.train.iterate import round_dir

    mf = [json.loads(x) for x in (shared_data / "minif2f" / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()]
    src = next(r for r in mf if r["split"] == "test")
    rows = [
        {"name": "synth_ok", "header": "import Init\n", "formal_statement": STATEMENT,
         "proof": _proof(STATEMENT, True), "band": "lean-formalized", "source": "synth:have-lift"},
        # the file says it is verified; Lean (the stand-in) says otherwise: it must not be trained on
        {"name": "synth_pool_hard", "header": "import Init\n",
         "formal_statement": "theorem synth_pool_hard (n : Nat) : n ≤ n * n + 1 := by\n", "proof": "  omega\n"},
        # a miniF2F test statement under another name: never reaches training, whatever its proof
        {"name": "synth_copy", "header": src["header"],
         "formal_statement": src["formal_statement"].replace(src["name"], "synth_copy", 1), "proof": "  simp\n"},
    ]
    synth = _rows(tmp_path / "synthetic.jsonl", rows)
    it, log = _iteration(tmp_path, shared_data, "--synthetic", str(synth))
    rd = round_dir(it.dir, 1)
    rd.mkdir(parents=True)
    it.build_data(1, rd)  # round 1 proved nothing: only the synthetic rows can be there
    ds = list(datasets.load_from_disk(str(rd / "train")))
    assert [(r["problem_id"], r["band"], r["source"]) for r in ds] == [
        ("synth_ok", "lean-formalized", "synthetic:synthetic.jsonl")]
    assert ds[0]["completion"].startswith(rows[0]["proof"]) and "synth_ok" in ds[0]["prompt"]
    s = json.loads((rd / "data.json").read_text())["synthetic"]
    assert s["rows_in"] == 3 and s["kept"] == 1 and s["checked"] == "gate"
    assert s["dropped_statements"] == ["synth_copy"] and s["matches"][0]["against"] == "minif2f"
    assert [(r["problem_id"], r["verdict"]) for r in s["rejected"]] == [("synth_pool_hard", "failed")]
    assert any("1 synthetic" in line for line in log)


def test_malformed_synthetic_rows_are_named_by_line(tmp_path: Path, shared_data: Path) -> None:
    synth = tmp_path / "synthetic.jsonl"
    synth.write_text(json.dumps({"name": "a", "formal_statement": STATEMENT, "proof": "  simp"}) + "\n"
                     + json.dumps({"name": "b", "formal_statement": STATEMENT}) + "\n"
                     + json.dumps({"name": "a", "formal_statement": STATEMENT, "proof": "  rfl"}) + "\n{oops\n")
    with pytest.raises(InputError) as e:
        _iteration(tmp_path, shared_data, "--synthetic", str(synth))
    msg = e.value.message
    assert f"{synth}:2: needs" in msg and f"{synth}:3: id 'a' repeats line 1" in msg and f"{synth}:4:" in msg


def test_informal_rows_copying_an_evaluation_problem_never_reach_training(tmp_path: Path, shared_data: Path) -> None:
    import datasets
    from bridge.train.iterate import round_dir

    mf = [json.loads(x) for x in (shared_data / "minif2f" / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()]
    words = next(r for r in mf if r["split"] == "test" and len(r["informal_prefix"].split()) > 30)["informal_prefix"]
    # the evaluation problem's words, re-typeset (no doc-comment fence, other spacing): still a copy
    copied = " ".join(words.replace("/--", "").replace("-/", "").split())
    rows = [{"id": f"{band}-{i}", "band": band, "prompt": f"Problem: show that {i} + 0 = {i}.\nSolution:",
             "completion": " Adding zero changes nothing."} for band in ("simple", "intermediate", "advanced")
            for i in range(3)]
    rows.append({"id": "copied", "band": "advanced", "prompt": f"Problem: {copied}\nSolution:", "completion": " 42"})
    informal = _rows(tmp_path / "informal.jsonl", rows)
    synth = _rows(tmp_path / "synthetic.jsonl", [{"name": "synth_ok", "header": "import Init\n",
                                                 "formal_statement": STATEMENT, "proof": _proof(STATEMENT, True)}])
    it, _ = _iteration(tmp_path, shared_data, "--informal", str(informal), "--synthetic", str(synth),
                       "--mix", "lean-formalized=1,simple=5,intermediate=5,advanced=5")
    rd = round_dir(it.dir, 1)
    rd.mkdir(parents=True)
    it.build_data(1, rd)
    ds = list(datasets.load_from_disk(str(rd / "train")))
    ids = {r["problem_id"] for r in ds}
    assert "copied" not in ids and {f"advanced-{i}" for i in range(3)} <= ids  # every other advanced row is there
    d = json.loads((rd / "data.json").read_text())["informal_decontamination"]
    assert d["dropped"] == 1 and d["matches"][0]["id"] == "copied" and d["matches"][0]["against"] == "minif2f"


def test_text_contamination_is_by_long_word_runs() -> None:
    from bridge.data.decontam import find_text_contamination
    from bridge.data.problem import Problem

    ev = [Problem("e1", "test", "", "", informal_statement="/-- Let $x$ and $y$ be positive reals with "
                  "$x + y = 10$ and $xy = 21$. Show that $x^2 + y^2 = 58$. -/"),
          Problem("e2", "test", "", "", informal_statement="Show that 2 + 2 = 4.")]  # too short to match on
    train = [("copy", "Let \\(x\\) and \\(y\\) be positive reals with \\(x+y=10\\) and \\(xy=21\\). Show that "
                      "\\(x^2+y^2=58\\)."),
             ("other", "Let x and y be positive integers with x + y = 7. Show that x y is at most 12."),
             ("short", "Problem: show that 2 + 2 = 4.")]
    got = {c.train_id: c.eval_id for c in find_text_contamination(train, ev)}
    assert got == {"copy": "e1"}
