"""`bridge formalize`: every funnel stage rejects the planted failure it exists for and keeps the good
candidates; the output is a dataset `bridge prove` reads; the report has the per-stage yield; a killed
run resumes. Against an OpenAI-compatible stand-in model (deterministic answers per prompt) and a REPL
stand-in (tests/fakes/fake_formal_repl.py) that answers the soundness follow-up as the fake REPL does."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.errors import BridgeError
from provers.formalize.funnel import _seed
from tests.conftest import ROOT
from tests.fakes.fake_model_server import FakeModelServer

FORMAL_REPL = ROOT / "tests" / "fakes" / "fake_formal_repl.py"

# informal id -> (informal statement, the formalizer's answers by candidate index)
PLANTED: dict[str, tuple[str, list[str]]] = {
    "primes": ("There are infinitely many primes.", [
        "theorem primes (n : ℕ) : ∃ p, n ≤ p ∧ p.Prime := by sorry",  # good
        "theorem primes (m : ℕ) : ∃ p, m ≤ p ∧ p.Prime := by sorry",  # the same up to a binder name
        "NO-BLOCK",  # no Lean code at all
    ]),
    "sumsq": ("Every prime p with p % 4 = 1 is a sum of two squares.", [
        "theorem sumsq (p : ℕ) (hp : p.Prime) (h : p % 4 = 1) : ∃ a b : ℕ, a ^ 2 + b ^ 2 = p := by sorry",  # good
        "theorem sumsq (p : ℕ) (hp : Nat.IsSuperPrime p) : ∃ a b : ℕ, a ^ 2 + b ^ 2 = p := by sorry",  # ill-formed
        "theorem sumsq (p : ℕ) (hp : sorry) : ∃ a b : ℕ, a ^ 2 + b ^ 2 = p := by sorry",  # sorry in the statement
    ]),
    "square": ("If x is a positive natural number then x squared is positive.", [
        "theorem square (x : ℕ) (h₀ : 2 + 2 = 5) (h₁ : 0 < x) : 0 < x ^ 2 := by sorry",  # contradictory hypotheses
        "theorem square (x : ℕ) (h₁ : 0 < x) : 2 + 2 = 4 := by sorry",  # trivial
        "theorem square : (7 : ℕ) * 8 = 54 := by sorry",  # false: its negation is provable
    ]),
    "reals": ("For every real number x, x squared is nonnegative.", [
        "theorem reals (x : ℕ) : x ^ 2 ≥ 0 := by sorry",  # says something else: ℕ, not ℝ
        "theorem reals (x : ℝ) (hx : x ≠ 0) : x ^ 2 ≥ 0 := by sorry",  # one judge in three disagrees
        "theorem reals (y : ℝ) : y ^ 2 + 1 > 0 := by sorry",  # an evaluation-set statement
    ]),
}
EVAL_ROW = {"name": "eval_thm", "split": "test", "header": "import Mathlib\n",
            "formal_statement": "theorem eval_thm (z : ℝ) : z ^ 2 + 1 > 0 := by"}
EXPECTED = {
    "primes/0/0": "survived", "primes/0/1": "unique", "primes/0/2": "extracted",
    "sumsq/0/0": "survived", "sumsq/0/1": "elaborates", "sumsq/0/2": "well_formed",
    "square/0/0": "consistent", "square/0/1": "nontrivial", "square/0/2": "negation_unproved",
    "reals/0/0": "back_translation", "reals/0/1": "back_translation", "reals/0/2": "uncontaminated",
}


def respond(prompt: str, i: int, seed: int = 0) -> str:
    """The stand-in formalizer, back-translator and judge. A formalization request's seed is the funnel's
    per-problem seed plus the first index it asks for: answers are by candidate index."""
    if "Back-translation of the formalization" in prompt:  # a judge
        lean = prompt.split("```lean4", 1)[1]
        if "(x : ℕ)" in lean and "real" in prompt:
            return "The domain differs: natural numbers are not the reals.\nNO"
        if "hx : x ≠ 0" in lean:
            return "An extra hypothesis x ≠ 0.\nNO" if i == 0 else "Close enough.\nYES"
        return "<think>compare</think>Both say the same.\nYES"
    if prompt.startswith("Translate the following Lean 4 theorem statement") or "Translate the following" in prompt:
        stmt = prompt.split("```lean4", 1)[1].split("theorem", 1)[1].split(":=")[0]
        return f"The statement: {' '.join(stmt.split())}."
    for pid, (informal, answers) in PLANTED.items():
        if informal in prompt:
            a = answers[(i + seed - _seed(0, pid)) % len(answers)]
            if a == "NO-BLOCK":
                return "<think>hard</think>I cannot formalize this."
            return f"<think>Let me think.</think>Here it is:\n```lean4\nimport Mathlib\nopen Real\n\n{a}\n```"
    return "unexpected prompt"


def write_input(tmp_path: Path) -> tuple[Path, Path]:
    inp = tmp_path / "informal.jsonl"
    inp.write_text("".join(json.dumps({"id": pid, "informal": inf, "source": "planted"}) + "\n"
                           for pid, (inf, _) in PLANTED.items()), encoding="utf-8")
    ev = tmp_path / "evalset.jsonl"
    ev.write_text(json.dumps(EVAL_ROW) + "\n", encoding="utf-8")
    return inp, ev


def repl_cmd(**env: str) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = f"{shlex.quote(sys.executable)} {shlex.quote(str(FORMAL_REPL))}"
    return f"env {prefix} {cmd}" if prefix else cmd


def formalize_argv(url: str, inp: Path, ev: Path, run_dir: Path, *extra: str, repl: str | None = None) -> list[str]:
    return ["formalize", str(inp), "--model", "Goedel-LM/Goedel-Formalizer-V2-8B", "--endpoint", url,
            "--candidates", "3", "--run-dir", str(run_dir), "--decontam", str(ev), "--repl-cmd", repl or repl_cmd(),
            "--no-cache", "--workers", "2", "--timeout", "20", *extra]


def parse(argv: list[str]) -> argparse.Namespace:
    from bridge.cli import formalize

    p = argparse.ArgumentParser()
    formalize.add_parser(p.add_subparsers())
    return p.parse_args(argv)


def run_formalize(argv: list[str]) -> int:
    args = parse(argv)
    return args.func(args)


def statuses(run_dir: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (run_dir / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: r["status"] for r in rows}


@pytest.fixture
def planted(tmp_path: Path):
    inp, ev = write_input(tmp_path)
    with FakeModelServer(respond, served="goedel-served") as srv:
        yield srv, inp, ev


def test_each_stage_rejects_its_planted_failure_and_keeps_the_good(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    assert run_formalize(formalize_argv(srv.url, inp, ev, run_dir)) == 0
    assert statuses(run_dir) == EXPECTED
    # every rejection says why
    cands = {r["id"]: r for r in map(json.loads, (run_dir / "candidates.jsonl").read_text().splitlines())}
    assert "duplicate" in cands["primes/0/1"]["stages"]["unique"]["kind"]
    assert "primes/0/0" in cands["primes/0/1"]["stages"]["unique"]["reason"]
    assert "unknown identifier" in cands["sumsq/0/1"]["stages"]["elaborates"]["reason"]
    assert cands["square/0/0"]["stages"]["consistent"]["kind"] == "contradictory hypotheses"
    assert cands["square/0/2"]["stages"]["negation_unproved"]["kind"] == "negation provable"
    assert "eval_thm" in cands["reals/0/2"]["stages"]["uncontaminated"]["reason"]
    bt = cands["reals/0/1"]["stages"]["back_translation"]
    assert bt["reason"].startswith("2/3 judges agree, unanimous needs 3")
    assert [v["vote"] for v in bt["data"]["votes"]] == [False, True, True]
    # survivors: a problem file `bridge prove` reads, with provenance
    from bridge.config import load_config
    from bridge.data.loader import load_dataset

    out = run_dir / "formalized.jsonl"
    problems = load_dataset(str(out), load_config(), split="test")  # the input's split (rows without one: test)
    assert [p.id for p in problems] == ["primes__f0", "sumsq__f0"]
    assert problems[0].formal_statement.startswith("theorem primes (n : ℕ)") and problems[0].informal_statement
    row = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    prov = row["provenance"]
    assert prov["source_id"] == "primes" and prov["model"] == "Goedel-LM/Goedel-Formalizer-V2-8B"
    assert prov["served_model"] == "goedel-served" and prov["template"] == "goedel-formalizer-v2"
    assert set(prov["stages"]) == {"extracted", "well_formed", "unique", "uncontaminated", "elaborates", "consistent",
                                   "nontrivial", "negation_unproved", "back_translation"}
    assert all(s["passed"] for s in prov["stages"].values())
    # the per-stage yield table
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    funnel = {r["stage"]: r for r in report["funnel"]}
    assert funnel["generated"]["entered"] == 12
    assert (funnel["extracted"]["entered"], funnel["extracted"]["passed"]) == (12, 11)
    assert (funnel["well_formed"]["passed"], funnel["unique"]["passed"], funnel["uncontaminated"]["passed"]) == (10, 9, 8)
    assert (funnel["elaborates"]["entered"], funnel["elaborates"]["passed"]) == (8, 7)
    assert (funnel["consistent"]["passed"], funnel["nontrivial"]["passed"], funnel["negation_unproved"]["passed"]) == (6, 5, 4)
    assert (funnel["back_translation"]["entered"], funnel["back_translation"]["passed"]) == (4, 2)
    assert funnel["back_translation"]["dropped"] == {"judges disagree": 2}
    assert report["compile_rate"] == pytest.approx(7 / 12) and report["survivors"] == 2
    assert report["survivors_per_statement"] == pytest.approx(0.5) and report["statements_with_survivor"] == 2
    assert report["by_source"]["planted"]["candidates"] == 12
    assert report["filter_pass_rate"]["elaborates"] == pytest.approx(7 / 8)
    md = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "| elaborates | 8 | 7 | 87.5% |" in md and "## By source" in md
    # the cheap stages ran first: nothing ill-formed or duplicated reached Lean or a judge
    judged = [r.prompt for r in srv.requests if "Back-translation of the formalization" in r.prompt]
    assert len(judged) == 4 and all("7 : ℕ" not in p for p in judged)


def test_a_majority_vote_keeps_the_split_one(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    assert run_formalize(formalize_argv(srv.url, inp, ev, run_dir, "--vote", "majority")) == 0
    got = statuses(run_dir)
    assert got["reals/0/1"] == "survived" and got["reals/0/0"] == "back_translation"


def test_rerun_decides_nothing_again_and_other_settings_are_refused(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    log = tmp_path / "repl.log"
    # unsandboxed: the stand-in's log is outside anything the sandbox lets a REPL write
    argv = formalize_argv(srv.url, inp, ev, run_dir, "--no-sandbox", repl=repl_cmd(FORMAL_FAKE_LOG=str(log)))
    assert run_formalize(argv) == 0
    asked, checked = len(srv.requests), len(log.read_text().splitlines())
    assert run_formalize(argv) == 0
    assert len(srv.requests) == asked and len(log.read_text().splitlines()) == checked
    assert statuses(run_dir) == EXPECTED
    with pytest.raises(BridgeError, match="was made with"):
        run_formalize([*argv, "--vote", "majority"])


def _funnel_rows(run_dir: Path) -> set[tuple]:
    if not (run_dir / "run.sqlite").is_file():
        return set()
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return set(db.execute("SELECT cand_id, stage, passed, kind, reason FROM funnel").fetchall())
    except sqlite3.Error:
        return set()
    finally:
        db.close()


def test_resume_after_sigkill(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    code = ("import argparse, sys\nfrom bridge.cli import formalize\nfrom bridge.errors import BridgeError\n"
            "p = argparse.ArgumentParser(); formalize.add_parser(p.add_subparsers())\n"
            "a = p.parse_args(sys.argv[1:])\ntry:\n    sys.exit(a.func(a))\nexcept BridgeError as e:\n"
            "    print(e, file=sys.stderr); sys.exit(e.exit_code)\n")
    slow = formalize_argv(srv.url, inp, ev, run_dir, repl=repl_cmd(FORMAL_FAKE_BURN="0.25"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code, *slow], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    before: set[tuple] = set()
    while time.time() < deadline and proc.poll() is None:
        before = _funnel_rows(run_dir)
        if any(r[1] == "consistent" for r in before):  # Lean stages under way, the funnel not finished
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _funnel_rows(run_dir)
    assert before and not any(r[1] == "back_translation" for r in before)
    generated = srv.asked("autoformalize")
    assert generated == 12
    assert run_formalize(formalize_argv(srv.url, inp, ev, run_dir)) == 0
    after = _funnel_rows(run_dir)
    assert before <= after  # nothing decided before the kill was lost or changed
    assert len(after) == len({(r[0], r[1]) for r in after})
    assert srv.asked("autoformalize") == generated  # no candidate generated twice
    assert statuses(run_dir) == EXPECTED


def test_more_candidates_extend_a_run(planted, tmp_path: Path) -> None:
    srv, inp, ev = planted
    run_dir = tmp_path / "run"
    argv = formalize_argv(srv.url, inp, ev, run_dir, "--no-back-translation")
    assert run_formalize([*argv[:argv.index("--candidates")], "--candidates", "2",
                          *argv[argv.index("--candidates") + 2:]]) == 0
    assert len(statuses(run_dir)) == 8
    assert run_formalize(argv) == 0
    got = statuses(run_dir)
    assert len(got) == 12 and got["square/0/2"] == "negation_unproved"
    assert got["reals/0/0"] == "survived"  # no judges: the ℕ statement is not caught
    report = json.loads((run_dir / "report.json").read_text())
    assert "back_translation" not in report["stages"]


def test_an_unloadable_evaluation_set_fails_closed(planted, tmp_path: Path) -> None:
    srv, inp, _ = planted
    argv = formalize_argv(srv.url, inp, tmp_path / "missing.jsonl", tmp_path / "run")
    with pytest.raises(BridgeError, match="decontamination against"):
        run_formalize(argv)
    assert not (tmp_path / "run").exists()


def test_bad_input_rows_are_named(tmp_path: Path) -> None:
    from bridge.errors import InputError
    from provers.formalize.funnel import read_informal_file

    f = tmp_path / "in.jsonl"
    f.write_text('{"id": "a", "informal": "x"}\n{"id": "b"}\nnot json\n{"id": "a", "informal": "y"}\n')
    with pytest.raises(InputError) as e:
        read_informal_file(f)
    msg = str(e.value)
    assert f"{f}:2: no `informal`" in msg and f"{f}:3: not valid JSON" in msg and "duplicate id 'a'" in msg


def test_builtin_conjectures_are_input(tmp_path: Path) -> None:
    from bridge.config import load_config
    from provers.formalize.funnel import load_informal

    problems = load_informal("conjectures", load_config())
    assert len(problems) == 16 and problems[0].id == "goldbach" and not problems[0].formal_statement
    assert "even" in problems[0].informal_statement and problems[0].source == "conjectures"
    assert re.match(r"^[a-z_]+$", problems[0].name)


def test_empty_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty input file: one line naming it and the next step, exit 2, nothing written."""
    from bridge.cli.main import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["formalize", str(empty), "--model", "m", "--decontam", "none", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(empty) in err and "; give " in err, err
    assert not (tmp_path / "run").exists()


def test_problem_rows_are_informal_input_and_a_row_without_either_names_both_fields(tmp_path: Path) -> None:
    from bridge.config import load_config
    from bridge.errors import InputError
    from provers.formalize.funnel import load_informal

    f = tmp_path / "math.jsonl"  # the informal datasets' shape: `problem`, no `informal`
    f.write_text('{"id": "p1", "problem": "Show that 1 + 1 = 2.", "answer": "2"}\n')
    (p,) = load_informal(str(f), load_config())
    assert p.id == "p1" and p.informal_statement == "Show that 1 + 1 = 2." and not p.formal_statement
    g = tmp_path / "neither.jsonl"
    g.write_text('{"id": "p1", "question": "Show that 1 + 1 = 2."}\n')
    with pytest.raises(InputError, match="looked for the fields `informal` and `problem`"):
        load_informal(str(g), load_config())
