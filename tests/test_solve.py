"""`bridge solve` end to end against a stand-in endpoint with planned answers: report figures equal hand
computations, resume, simple_to_lean beside a prove run, RFT rows into `train sft` and `iterate
--informal`, dataset formats and validation, a stop between problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli.solve import run
from bridge.config import load_config
from bridge.data.problem import Problem
from bridge.errors import InputError
from bridge.informal.datasets import load_informal
from bridge.informal.families import FAMILIES
from bridge.informal.grading import Grader
from bridge.informal.store import SolveStore
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.verdict import Verdict
from provers.backends.base import SamplingParams
from provers.solve import Solver, SolveSettings
from tests.test_solve_support import PROBLEMS, PlannedEndpoint, solve_args, table, write_jsonl

PLAN = {
    "P1": ["so \\boxed{0.5}", "The answer is 1/2.", "\\boxed{3}", "I give up", "\\boxed{0.5}", "\\boxed{2}"],
    "P2": ["\\boxed{3}", "\\boxed{4}", "\\boxed{4}", "x = \\boxed{3}", "\\boxed{3}", "\\boxed{3}"],
    "P3": ["\\boxed{(0,1]}", "\\boxed{[0,1]}", "\\boxed{[0,1]}", "\\boxed{[0, 1]}", "\\boxed{[0,1]}", "\\boxed{(0,1]}"],
}


def _rows() -> list[dict]:
    rows = [dict(p) for p in PROBLEMS]
    rows[2]["formal_statement"] = "theorem p3 : True := by\n"
    return rows


def _prove_run(path: Path) -> Path:
    """A `bridge prove` run directory: p1 proved, p2 failed, and a problem the informal set lacks."""
    with RunStore(path) as store:
        stmt = {pid: f"theorem {pid} : True := by\n" for pid in ("p1", "p2", "other")}
        store.add_problems([Problem(pid, "test", "import Init\n", s) for pid, s in stmt.items()])
        store.set_meta({"dataset": "x", "count_fast_gate": False})
        for pid, verdict in (("p1", "proved"), ("p2", "failed"), ("other", "proved")):
            sid = sample_id(pid, 0, 0)
            store.add_sample(SampleRow(sid, pid, 0, 0, "  trivial", "import Init\n", stmt[pid] + "  trivial"), "", {})
            store.add_verdict(sid, Verdict(sid, verdict, reason=None if verdict == "proved" else "x"))
    return path


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("solve")
    data = write_jsonl(tmp / "problems.jsonl", _rows())
    lean = _prove_run(tmp / "prove")
    with PlannedEndpoint(table(PLAN), served="served/m") as ep:
        assert run(solve_args(ep.url, data, tmp / "run", "--lean-run", str(lean))) == 0
        asked = len(ep.asked)
        # the same command again: nothing is asked, the report is the same
        assert run(solve_args(ep.url, data, tmp / "run")) == 0
        again = len(ep.asked)
    report = json.loads((tmp / "run" / "report.json").read_text())
    return {"tmp": tmp, "data": data, "report": report, "asked": asked, "again": again, "lean": lean}


def test_report_equals_hand_computations(solved: dict) -> None:
    r = solved["report"]
    # p1: 0.5 1/2 3 - (c=2; group {0.5, 1/2} is the majority, 2 of 4); p2: 3 4 4 3 (c=2; a tie, the first
    # seen, 3, wins); p3: (0,1] [0,1] [0,1] [0,1] (c=1; the majority is wrong, 3 of 4)
    assert r["pass_at_k"] == {"1": pytest.approx((2 + 2 + 1) / 12), "4": 1.0}
    assert r["maj_at_k"] == {"4": pytest.approx(2 / 3)}
    assert r["consensus_rate"] == pytest.approx((2 / 4 + 2 / 4 + 3 / 4) / 3)
    assert r["consensus_pass_at_k"] == {"1": pytest.approx(5 / 12), "4": pytest.approx(2 / 3)}
    assert [(p["id"], p["n"], p["c"], p["majority"], p["majority_correct"]) for p in r["problems"]] == [
        ("p1", 4, 2, "0.5", True), ("p2", 4, 2, "3", True), ("p3", 4, 1, "[0,1]", False)]
    assert [p["band"] for p in r["problems"]] == ["simple", "intermediate", "advanced"]  # level 1, Level 4, given
    assert r["difficulty_band_metrics"]["advanced"]["maj_at_k"] == {"4": 0.0}
    assert r["by_split"]["test"]["pass_at_k"] == r["pass_at_k"]
    # the controls: strict sees only \frac-free exact matches, the substring control reads the whole text
    assert r["grading"]["controls"]["strict"]["pass_at_k"]["1"] == pytest.approx((0 + 2 + 1) / 12)
    assert r["grading"]["methods"] == {"math-verify": 11, "no answer": 1}
    prof = r["response_profile_metrics"]["all"]
    assert prof["samples"] == 12 and prof["answer_present_rate"] == pytest.approx(11 / 12)
    assert r["model"] == "served/m" and r["model_requested"] == "m" and r["mode"] == "cot"
    assert solved["again"] == solved["asked"] == 3  # one request per problem, none on the rerun
    run_dir = solved["tmp"] / "run"
    assert (run_dir / "report.md").is_file() and (run_dir / "passk.png").stat().st_size > 1000
    assert (run_dir / "consensus.png").stat().st_size > 1000


def test_consensus_curves_have_every_k(solved: dict) -> None:
    r = solved["report"]
    for band, g in r["difficulty_band_metrics"].items():
        c = r["consensus_curves"][band]
        assert c["ks"] == [1, 2, 3, 4]  # every k, not only the pass@k columns (1, 4)
        for k in ("1", "4"):
            assert c["consensus_pass_at_k"][int(k) - 1] == pytest.approx(g["consensus_pass_at_k"][k])
            assert c["pass_at_k"][int(k) - 1] == pytest.approx(g["pass_at_k"][k])


def test_simple_to_lean_side_by_side(solved: dict) -> None:
    s = solved["report"]["simple_to_lean"]
    assert s["formal_run"] == str(solved["lean"].resolve())
    # p1, p2 are in the prove run; p3 carries a Lean statement of its own but was not attempted
    assert (s["problems"], s["in_formal_run"], s["both"], s["informal_only"], s["formal_only"], s["neither"]) == \
        (3, 2, 1, 1, 0, 0)
    assert {r["id"]: r["proved_formally"] for r in s["rows"]} == {"p1": True, "p2": False, "p3": None}


def test_rft_rows_round_trip_into_train_sft(solved: dict) -> None:
    path = solved["tmp"] / "run" / "rft.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert {"prompt", "completion", "problem_id", "band", "source"} <= set(rows[0])
    # correct solutions only, deduplicated, shortest first; bands from measured solve rates
    assert [(r["problem_id"], r["completion"], r["band"]) for r in rows] == [
        ("p1", "so \\boxed{0.5}", "simple"), ("p1", "The answer is 1/2.", "simple"),
        ("p2", "\\boxed{3}", "simple"), ("p2", "x = \\boxed{3}", "simple"), ("p3", "\\boxed{(0,1]}", "intermediate")]
    pytest.importorskip("datasets")
    from bridge.train.data import read_informal, rows_for_training
    from provers.templates import family_for

    ds = rows_for_training(path, family_for("m", "deepseek-v1.5"))
    assert [r["completion"] for r in ds] == [r["completion"] for r in rows]
    assert [r["prompt"] for r in ds] == [r["prompt"] for r in rows] and ds[0]["band"] == "simple"
    informal = read_informal(path)  # what `bridge iterate --informal` mixes in
    assert [(r.band, r.id) for r in informal] == [(r["band"], r["sample_id"]) for r in rows]


def test_more_samples_add_only_the_missing(solved: dict, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(solved["tmp"] / "run", run_dir)
    with PlannedEndpoint(table(PLAN)) as ep:
        assert run(solve_args(ep.url, solved["data"], run_dir, samples=6)) == 0
    assert [a.n for a in ep.asked] == [2, 2, 2]
    r = json.loads((run_dir / "report.json").read_text())
    assert [p["n"] for p in r["problems"]] == [6, 6, 6] and set(r["pass_at_k"]) == {"1", "6"}
    with PlannedEndpoint(table(PLAN)) as ep, pytest.raises(InputError, match="made with mode"):
        run(solve_args(ep.url, solved["data"], run_dir, "--mode", "tir"))


def test_contract_flags_parse() -> None:
    args = solve_args("http://x/v1", Path("d.jsonl"), Path("r"), "--mode", "tir", "--template", "numina",
                      "--max-tokens", "64", "--temperature", "0.5")
    assert (args.dataset, args.model, args.samples, args.mode, args.run_dir, args.endpoint, args.template,
            args.max_tokens, args.temperature) == ("d.jsonl", "m", 4, "tir", "r", "http://x/v1", "numina", 64, 0.5)
    assert set(FAMILIES) == {"numina", "qwen25-math"}


# -- datasets -------------------------------------------------------------------------------------


def _cfg(tmp: Path):
    return load_config(overrides={"cache_dir": tmp / "cache"})


def test_formats_of_the_named_sets(tmp_path: Path) -> None:
    gsm = write_jsonl(tmp_path / "gsm8k_test.jsonl", [
        {"question": "Janet has 3 eggs and buys 2.", "answer": "3 + 2 = <<3+2=5>>5\n#### 5"}])
    p = load_informal(str(gsm), _cfg(tmp_path))[0]
    assert (p.id, p.answer, p.solution, p.band, p.source) == ("gsm8k-1", "5", "3 + 2 = 5", "simple", "gsm8k")
    math = write_jsonl(tmp_path / "math.jsonl", [
        {"problem": "Compute $x$.", "level": "Level 5", "type": "Algebra", "solution": "So $x = \\boxed{\\frac{1}{2}}$."}])
    p = load_informal(str(math), _cfg(tmp_path))[0]
    assert (p.answer, p.level, p.band) == ("\\frac{1}{2}", 5, "advanced")
    numina = write_jsonl(tmp_path / "numinamath_cot.jsonl", [
        {"source": "olympiads", "problem": "Find n.", "solution": "Thus \\boxed{12}.", "messages": []}])
    p = load_informal(str(numina), _cfg(tmp_path))[0]
    assert (p.answer, p.source) == ("12", "olympiads")
    aime = write_jsonl(tmp_path / "any.jsonl", [{"id": 60, "problem": "Find m+n.", "answer": 204, "split": "train"}])
    p = load_informal(str(aime), _cfg(tmp_path), split="train")[0]
    assert (p.id, p.answer, p.split) == ("60", "204", "train")


def test_malformed_rows_are_each_reported(tmp_path: Path) -> None:
    good = {"id": "a", "problem": "x?", "answer": "1"}
    bad = [b"{not json", json.dumps({"id": "b", "answer": "1"}).encode(), json.dumps({"id": "c", "problem": "y?"}).encode(),
           json.dumps({**good, "id": "d", "level": "hard"}).encode(), json.dumps({**good, "id": "e", "band": "easy"}).encode(),
           json.dumps(good).encode(), json.dumps({**good, "id": "f", "answer": ["1"]}).encode()]
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b"\n".join([json.dumps(good).encode(), *bad]) + b"\n")
    with pytest.raises(InputError) as e:
        load_informal(str(f), _cfg(tmp_path))
    msg = str(e.value)
    assert "7 malformed row(s); nothing was loaded" in msg
    for line, reason in ((2, "not valid JSON"), (3, "no problem text"), (4, "no gold answer"), (5, "`level`"),
                         (6, "`band`"), (7, "duplicate id 'a'"), (8, "not a string or a number")):
        assert f"{f}:{line}: " in msg and reason in msg.split(f"{f}:{line}: ")[1].split("\n")[0]
    args = solve_args("http://unused/v1", f, tmp_path / "run", "--check")
    assert run(args) == 1 and not (tmp_path / "run").exists()
    with pytest.raises(InputError, match="formal dataset"):
        load_informal("minif2f", _cfg(tmp_path))


# -- stopping between problems ----------------------------------------------------------------------


class _Stopper:
    """A backend that answers from the plan and stops the solver after the first problem."""

    name = "stub"

    def __init__(self) -> None:
        self.solver: Solver | None = None
        self.calls = 0

    def generate(self, prompt: str, n: int, params: SamplingParams) -> list[str]:
        self.calls += 1
        if self.calls == 1 and self.solver is not None:
            self.solver.stop()  # as Ctrl-C would, while this answer is being generated
        from tests.test_solve_support import tag

        return PLAN[tag(prompt)][:n]


def test_a_stopped_run_keeps_its_solutions_and_resumes(tmp_path: Path) -> None:
    from bridge.informal.datasets import informal_spec, read_informal_file

    data = write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    problems = read_informal_file(data, informal_spec(str(data))[0])
    settings = SolveSettings(samples=2)
    with SolveStore(tmp_path / "run") as store:
        store.add_informal_problems(problems)
        backend = _Stopper()
        with Grader(workers=1) as grader:
            backend.solver = Solver(backend, FAMILIES["qwen25-math"], store, settings, grader)
            backend.solver.run(problems)
        assert backend.solver.stopped and backend.calls == 1
        assert store.solution_count() == 2  # the answer in flight is kept; nothing more was asked
        again = _Stopper()
        with Grader(workers=1) as grader:  # the next run (a stop aborts its grader)
            Solver(again, FAMILIES["qwen25-math"], store, settings, grader).run(problems)
        assert again.calls == 2 and store.solution_count() == 6
        assert store.graded_counts() == {"p1": 2, "p2": 2, "p3": 2}


def test_empty_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty input file: one line naming it and the next step, exit 2, nothing written."""
    from bridge.cli.main import main

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["solve", str(empty), "--model", "m", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(empty) in err and "; give " in err, err
    assert not (tmp_path / "run").exists()


def test_consensus_figure_legend_is_off_the_data(solved: dict) -> None:
    from bridge.informal.report import consensus_figure

    fig = consensus_figure(solved["report"])
    fig.canvas.draw()
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(r).y1 <= ax.get_window_extent(r).y0
    xs = {x for line in ax.get_lines() for x in line.get_xdata()}
    assert xs == {1, 2, 3, 4}  # consensus and pass@k at every k
