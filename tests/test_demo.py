"""`bridge demo` end to end (no Lean, no GPU, no network): the stand-in REPL and the scripted prover run
prove -> report -> export; every verdict, the report and the console say "stand-in"; the result cache is
untouched; the stand-in's verdicts count in the demo's run directory and nowhere else."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "vllm", "ray")

# what the scripted prover and the stand-in REPL give, sample by sample (bridge/demo/prover.py)
EXPECTED = {
    "demo_add_zero": ["proved"] * 4,
    "demo_two_add_two": ["proved", "failed", "proved", "failed"],
    "demo_succ_le": ["incomplete", "incomplete", "incomplete", "proved"],
    "demo_mul_comm": ["failed", "incomplete", "failed", "incomplete"],
    "demo_linear": ["rejected"] * 4,    # `sorry`: the gate's sorry rule
    "demo_not_dvd": ["rejected"] * 4,   # the cheat: the gate's axiom rule
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(XDG_CACHE_HOME=str(tmp / "cache"), XDG_CONFIG_HOME=str(tmp / "config"), PYTHONPATH=str(ROOT))
    # as from the light install (`pip install -e .`): the machine-learning stack cannot be imported
    light = ("import sys\nfor m in " + repr(HEAVY) + ": sys.modules[m] = None\n"
             "from bridge.cli.main import main\nsys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", light, "demo", "--run-dir", str(tmp / "run")], cwd=tmp, env=env,
                       capture_output=True, text=True, timeout=120)
    return {"r": r, "dir": tmp / "run", "cache": tmp / "cache", "env": env, "tmp": tmp}


def _verdicts(run_dir: Path) -> dict[str, dict]:
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return {sid: json.loads(data) for sid, data in db.execute("SELECT sample_id, data FROM verdicts")}
    finally:
        db.close()


def test_demo_runs_and_every_verdict_is_the_stand_ins(demo: dict) -> None:
    r = demo["r"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    got = _verdicts(demo["dir"])
    want = {f"{p}/0/{i}": v for p, vs in EXPECTED.items() for i, v in enumerate(vs)}
    assert {k: v["verdict"] for k, v in got.items()} == want
    assert {v["checker"] for v in got.values()} == {"stand-in"}
    assert {v["lean_version"] for v in got.values()} == {"stand-in (not Lean)"}
    assert {got[f"demo_linear/0/{i}"]["rule"] for i in range(4)} == {"sorry"}
    assert {got[f"demo_not_dvd/0/{i}"]["rule"] for i in range(4)} == {"axiom"}


def test_demo_report_export_and_console_say_stand_in(demo: dict) -> None:
    d, r = demo["dir"], demo["r"]
    md = (d / "report.md").read_text(encoding="utf-8")
    assert "stand-in" in md and "not Lean" in md
    report = json.loads((d / "report.json").read_text(encoding="utf-8"))
    assert report["checker"] == "stand-in" and report["solved"] == 3
    assert (d / "passk.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.stdout.startswith("STAND-IN verdicts, not Lean's: 3/6 problems solved")
    assert "STAND-IN verdicts, not Lean's" in r.stderr.splitlines()[0]
    rows = [json.loads(x) for x in (d / "proofs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4 + 2 + 1 and {x["checker"] for x in rows} == {"stand-in"}


def test_demo_leaves_the_result_cache_untouched(demo: dict) -> None:
    assert not (demo["cache"] / "bridge" / "results.sqlite").exists()
    assert not list(demo["cache"].rglob("results.sqlite"))


def test_stand_in_verdicts_count_nowhere_outside_the_demo(demo: dict, tmp_path: Path) -> None:
    from bridge.eval.report import build_report, markdown
    from bridge.runs.store import RunStore
    from bridge.verify.verdict import Verdict

    # the same verdicts in a run directory that is not a demo's: nothing counts as solved
    copy = tmp_path / "copy"
    copy.mkdir()
    src = sqlite3.connect(demo["dir"] / "run.sqlite")
    src.backup(dst := sqlite3.connect(copy / "run.sqlite"))
    src.close()
    dst.execute("UPDATE meta SET value = 'false' WHERE key = 'demo'")
    dst.commit()
    dst.close()
    with RunStore.open_existing(copy) as store:
        assert store.solved() == set() and store.solved(count_fast_gate=True) == set()
        report = build_report(store)
    assert report["solved"] == 0 and "NOT counted" in markdown(report)
    v = Verdict(id="x", verdict="proved", checker="stand-in")
    assert not v.counted() and not v.counted(count_fast_gate=True) and v.counted(count_stand_in=True)
    assert Verdict.from_json(v.to_json()).checker == "stand-in"
    # nor as training data: `train sft` refuses an export of the demo
    from bridge.errors import InputError
    from bridge.train.data import rows_for_training
    from provers.templates import family_for

    pytest.importorskip("datasets")
    with pytest.raises(InputError, match="not Lean"):
        rows_for_training(demo["dir"] / "proofs.jsonl", family_for("x"))


def test_demo_refuses_a_run_directory_that_is_not_a_demos(demo: dict, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "run.sqlite")
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "INSERT INTO meta VALUES ('model', '\"m\"');")
    db.close()
    r = subprocess.run([sys.executable, "-m", "bridge", "demo", "--run-dir", str(other)], cwd=demo["tmp"],
                       env=demo["env"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a demo's" in r.stderr and "Traceback" not in r.stderr


def test_the_stand_in_is_recognised_by_its_packaged_path_only(tmp_path: Path) -> None:
    from bridge.demo import STANDIN_REPL
    from bridge.verify.api import is_stand_in
    from tests.conftest import FAKE_REPL

    assert is_stand_in([sys.executable, str(STANDIN_REPL)])
    assert is_stand_in(["env", "X=1", "python", "-m", "bridge.demo.standin_repl"])
    assert is_stand_in(["python", str(STANDIN_REPL.parent / ".." / "demo" / "standin_repl.py")])
    # the tests' link and a wrapper of the same name elsewhere stand for Lean in the tests
    assert not is_stand_in([sys.executable, str(FAKE_REPL)])
    assert not is_stand_in([sys.executable, str(tmp_path / "standin_repl.py")])
