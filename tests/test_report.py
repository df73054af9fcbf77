"""The report from a run store built by hand: keys, fast-gate counting, error kinds, bootstrap intervals,
stop-on-first, the curves and the figure, and `bridge report A B` overlaying runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.data.problem import Problem
from bridge.eval.passk import bootstrap_ci, pass_at_k
from bridge.eval.report import build_report, curves, error_kind, figure, write_report
from bridge.runs.store import RunStore, SampleRow, sample_id
from bridge.verify.verdict import Verdict
from tests.conftest import ROOT

README_KEYS = ("pass_at_k", "problems", "by_split", "by_band", "rounds", "model", "template", "sampling",
               "lean_version")

OK = ("proved", None, None, "full")
FAST = ("proved", None, None, "fast")


def fail(line: int, msg: str = "unknown identifier 'x'") -> tuple[str, str, None, str]:
    return ("failed", f"Lean reported 1 error(s); first: line {line}: {msg}", None, "full")


def make_run(run_dir: Path, outcomes: dict[tuple[str, str, str], list[tuple]], **meta: object) -> Path:
    """A run store: {(problem id, split, band): [verdict spec per sample index]}."""
    with RunStore(run_dir) as store:
        store.set_meta({"dataset": "t", "split": "test", "model": "asked/model", "template": "deepseek-v1.5",
                        "sampling": {"temperature": 1.0}, "lean_version": "v4.9.0", **meta})
        store.add_problems([Problem(id=pid, split=split, header="import Mathlib\n", band=band,
                                    formal_statement=f"theorem {pid} : True := by\n") for pid, split, band in outcomes])
        for (pid, _, _), specs in outcomes.items():
            for i, spec in enumerate(specs):
                sid = sample_id(pid, 0, i)
                body = f"theorem {pid} : True := by\n  trivial -- {i}"
                store.add_sample(SampleRow(sid, pid, 0, i, f"  trivial -- {i}", "import Mathlib\n", body), "p", {})
                if spec is None:
                    continue  # generated, not verified
                verdict, reason, rule, gate = spec
                store.add_verdict(sid, Verdict(id=sid, verdict=verdict, reason=reason, rule=rule, gate=gate))
    return run_dir


def report_of(run_dir: Path, **kw: object) -> dict:
    with RunStore.open_existing(run_dir) as store:
        return build_report(store, **kw)  # type: ignore[arg-type]


def test_keys_counts_and_intervals(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "r", {
        ("a", "test", "simple"): [OK, fail(3), OK, fail(9)],
        ("b", "test", "advanced"): [fail(4), fail(5), ("rejected", "uses sorryAx", "axioms", "full"), FAST],
        ("c", "valid", "simple"): [OK, OK, OK, OK],
    }, samples=4, served_model="served/model")
    rep = report_of(rd)
    for k in README_KEYS:
        assert k in rep
    assert rep["model"] == "served/model" and rep["model_requested"] == "asked/model"
    assert rep["pass_at_k"]["1"] == pytest.approx((0.5 + 0 + 1) / 3)  # b's fast-gate proof does not count
    assert rep["solved"] == 2 and rep["fast_gate"] == {"proved": 1, "counted": False}
    assert rep["verdicts"]["proved"] == 7 and rep["verdicts"]["failed"] == 4 and rep["verdicts"]["rejected"] == 1
    kinds = {(e["verdict"], e["kind"]): e["count"] for e in rep["errors"]}
    assert kinds == {("failed", "Lean reported N error(s); first: unknown identifier 'x'"): 4,
                     ("rejected", "rule axioms"): 1}
    lo, hi = rep["pass_at_k_ci"]["1"]
    assert 0 <= lo <= rep["pass_at_k"]["1"] <= hi <= 1
    assert rep["bootstrap"]["seed"] == 0 and rep["pass_at_k_ci"] == report_of(rd)["pass_at_k_ci"]  # seeded
    assert set(rep["by_split"]) == {"test", "valid"} and set(rep["by_band"]) == {"simple", "advanced"}
    assert "pass_at_k_ci" in rep["by_split"]["test"]
    counted = report_of(rd, count_fast_gate=True)
    assert counted["solved"] == 3 and counted["fast_gate"]["counted"] is True
    paths = write_report(rd, rep)
    md = paths[1].read_text()
    assert "served/model" in md and "fast gate" in md and "NOT counted" in md
    assert "| proved | 7 (1 by the fast gate, not counted) |" in md
    assert "| failed | 4 |" in md and "rule axioms" in md and "[" in md.split("| all |")[1].split("\n")[0]
    with RunStore.open_existing(rd) as store:  # what prove, resume and bands read
        assert store.solved() == {"a", "c"} and store.solved(count_fast_gate=True) == {"a", "b", "c"}
        assert store.counts()["b"] == (4, 0) and store.counts(count_fast_gate=True)["b"] == (4, 1)


def test_error_kind_folds_positions_and_numbers() -> None:
    a = Verdict(id="x", verdict="failed", reason="Lean reported 2 error(s); first: line 7: linarith failed\nmore")
    b = Verdict(id="y", verdict="failed", reason="Lean reported 3 error(s); first: line 12: linarith failed")
    assert error_kind(a) == error_kind(b) == "Lean reported N error(s); first: linarith failed"
    assert error_kind(Verdict(id="z", verdict="timeout", reason="no answer within 300s, on 2 fresh worker(s): x")) \
        == "no answer within Ns, on N fresh worker(s): x"
    assert error_kind(Verdict(id="w", verdict="rejected", reason="r", rule="statement")) == "rule statement"
    assert error_kind(Verdict(id="v", verdict="proved")) is None


def test_bootstrap_ci() -> None:
    vals = [1.0, 0.0, 0.5, 1.0, 0.0, 0.25] * 20
    ci = bootstrap_ci(vals, resamples=500, seed=3)
    assert ci == bootstrap_ci(vals, resamples=500, seed=3)
    mean = sum(vals) / len(vals)
    assert ci is not None and ci[0] < mean < ci[1] and ci[1] - ci[0] < 0.3
    assert bootstrap_ci([1.0] * 10) == (1.0, 1.0)
    assert bootstrap_ci([]) is None
    with pytest.raises(ValueError):
        bootstrap_ci([1.0], level=1.5)


def test_stop_on_first_report_from_the_store(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "r", {
        ("a", "test", "simple"): [fail(1), OK, fail(1), fail(1)],  # solved at sample 2
        ("b", "test", "simple"): [fail(1)] * 8,  # unsolved: the whole budget
        ("c", "test", "simple"): [fail(1)] * 4 + [fail(1), fail(1), OK, None],  # solved at sample 7
    }, samples=8, stop_on_first=True, first_block=4)
    rep = report_of(rd)
    assert rep["mode"] == "stop-on-first" and set(rep["pass_at_k"]) == {"1"}
    assert rep["pass_at_k"]["1"] == pytest.approx((1 / 4 + 0 + 0) / 3)  # the first block only
    sof = rep["stop_on_first"]
    assert sof["solved"] == 2 and sof["solved_fraction"] == pytest.approx(2 / 3)
    assert sof["mean_samples_to_first_proof"] == pytest.approx((2 + 7) / 2)
    (c,) = [c for c in curves(rep) if c.kind == "split"]
    assert c.ks == list(range(1, 9)) and c.ys[0] == 0 and c.ys[1] == pytest.approx(100 / 3)
    assert c.ys[6] == pytest.approx(200 / 3) and c.ys == sorted(c.ys)
    md = write_report(rd, rep)[1].read_text()
    assert "stop-on-first" in md and "pass@8" not in md


def test_curves_and_figure(tmp_path: Path) -> None:
    rd = make_run(tmp_path / "r", {
        ("a", "test", "simple"): [OK, fail(1), fail(1), fail(1)],
        ("b", "test", "advanced"): [fail(1)] * 4,
        ("c", "valid", "simple"): [OK, OK, fail(1), fail(1)],
    }, samples=4)
    rep = report_of(rd)
    cs = curves(rep)
    assert sorted((c.kind, c.name) for c in cs) == [("band", "advanced"), ("band", "simple"), ("split", "test"),
                                                     ("split", "valid")]
    test = next(c for c in cs if c.name == "test")
    assert test.ks == [1, 2, 3, 4] and test.n == 4 and test.problems == 2
    assert test.ys[0] == pytest.approx(100 * (pass_at_k(4, 1, 1) + 0) / 2)
    fig = figure([("", rep)])
    left, right = fig.axes[:2]
    assert left.get_ylim() == (0, 100) and right.get_ylim() == (0, 100)
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert len(labels) == 2 and all("n=4" in s for s in labels) and any("2 problems" in s for s in labels)
    assert len(right.get_lines()) == 2
    assert "n=4" in fig._suptitle.get_text() and "3 problems" in fig._suptitle.get_text()


def test_report_overlays_several_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path / "run_a", {("p", "test", "simple"): [OK, fail(1)], ("q", "test", "simple"): [fail(1)] * 2},
                 samples=2)
    b = make_run(tmp_path / "run_b", {("p", "test", "simple"): [OK] * 4, ("q", "test", "simple"): [fail(1), OK, OK, OK]},
                 samples=4, model="other/model")
    out = tmp_path / "cmp"
    r = subprocess.run([sys.executable, "-m", "bridge", "report", str(a), str(b), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "run_a" in r.stdout and "run_b" in r.stdout
    data = json.loads((out / "report.json").read_text())
    assert [x["label"] for x in data["runs"]] == ["run_a", "run_b"]
    assert data["runs"][1]["pass_at_k"]["4"] == 1.0 and data["runs"][0]["pass_at_k"]["2"] == 0.5
    md = (out / "report.md").read_text()
    assert md.count("| run_") == 2 and "pass@4" in md and "other/model" in md
    assert (out / "passk.png").stat().st_size > 1000
    with RunStore.open_existing(a) as s1, RunStore.open_existing(b) as s2:
        fig = figure([("run_a", build_report(s1)), ("run_b", build_report(s2))])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(s.startswith("run_a") and "n=2" in s for s in labels)
    assert any(s.startswith("run_b") and "n=4" in s for s in labels)
    # one run: its own report, as before
    r = subprocess.run([sys.executable, "-m", "bridge", "report", str(a)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and (a / "report.json").is_file() and (a / "passk.png").is_file()


def test_runs_get_distinct_colours_interval_bands_and_legends_off_the_data(tmp_path: Path) -> None:
    runs = []
    for i, name in enumerate(("r1", "r2", "r3")):
        rd = make_run(tmp_path / name, {("p", "test", "simple"): [OK] * i + [fail(1)] * (4 - i),
                                        ("q", "test", "simple"): [OK] + [fail(1)] * 3}, samples=4)
        runs.append((name, report_of(rd)))
    fig = figure(runs)
    fig.canvas.draw()
    left = fig.axes[0]
    colours = [tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color()
               for line in left.get_lines()]
    assert len(colours) == 3 and len(set(colours)) == 3  # one colour per run, not line styles only
    # a band (the 95 % bootstrap interval) per curve, of the curve's colour, and containing it
    assert len(left.collections) == 3
    c = next(x for x in curves(runs[1][1]) if x.kind == "split")
    assert len(c.lo) == len(c.hi) == len(c.ks) == 4
    assert all(lo <= y <= hi for lo, y, hi in zip(c.lo, c.ys, c.hi, strict=True))
    # the legend lies below the plotting area: off the data
    renderer = fig.canvas.get_renderer()
    assert left.get_legend().get_window_extent(renderer).y1 <= left.get_window_extent(renderer).y0
