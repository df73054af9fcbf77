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


# -- bridge demo --tiny-model: one real `iterate` round with a tiny random model (the ml extra) ------------


def test_tiny_model_without_the_ml_extra_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    light = ("import sys\nfor m in " + repr(HEAVY) + ": sys.modules[m] = None\n"
             "from bridge.cli.main import main\nsys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", light, "demo", "--tiny-model", "--run-dir", str(tmp_path / "run")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install -e ".[ml]"' in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # checked before anything ran


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    tmp = tmp_path_factory.mktemp("tiny")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    # no data directory: the demo needs neither miniF2F nor ProofNet
    env.update(XDG_CACHE_HOME=str(tmp / "cache"), XDG_CONFIG_HOME=str(tmp / "config"), PYTHONPATH=str(ROOT),
               BRIDGE_DATA_DIR=str(tmp / "no-data"))
    argv = [sys.executable, "-m", "bridge", "demo", "--tiny-model", "--run-dir", str(tmp / "run")]
    r = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
    return {"r": r, "dir": tmp / "run", "it": tmp / "run" / "iterate", "env": env, "argv": argv, "tmp": tmp}


def test_tiny_model_runs_one_iterate_round(tiny: dict) -> None:
    r, it = tiny["r"], tiny["it"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    rounds = json.loads((it / "rounds.json").read_text(encoding="utf-8"))
    assert [x["round"] for x in rounds] == [1]
    rd = rounds[0]
    assert rd["checker"] == "stand-in" and rd["stand_in_counted"] is True
    assert rd["statements_in_pool"] == 6 and rd["canaries"] == 1 and rd["canaries_proved"] == 0
    if rd["training_rows"]:
        assert rd["trained"] is True and rd["adapter"] == "round-1/adapter"
        assert (it / "round-1" / "adapter" / "adapter_config.json").is_file()
        summary = json.loads((it / "round-1" / "training_summary.json").read_text(encoding="utf-8"))
        assert summary["checker"] == "stand-in"
    else:
        assert rd["no_training_reason"]
    assert f"rounds: {it / 'rounds.json'}" in r.stderr
    assert "decontamination against miniF2F/ProofNet is off" in r.stderr
    assert "[stand-in] round 1/1:" in r.stderr  # the round's own log lines say whose verdicts they are
    assert "STAND-IN verdicts, not Lean's" in (it / "rounds.md").read_text(encoding="utf-8")
    # the prove -> report -> export demo ran first, as without --tiny-model
    assert r.stdout.startswith("STAND-IN verdicts, not Lean's: 3/6 problems solved")


def test_tiny_model_verdicts_are_the_stand_ins_and_canaries_are_refused(tiny: dict) -> None:
    from bridge.runs.store import RunStore

    store_dir = tiny["it"] / "round-1" / "samples"
    got = _verdicts(store_dir)
    assert len(got) == 7 * 4 and {v["checker"] for v in got.values()} == {"stand-in"}
    canaries = {k: v for k, v in got.items() if k.startswith("bridge_canary_")}
    assert len(canaries) == 4 and {v["verdict"] for v in canaries.values()} <= {"failed", "incomplete"}
    with RunStore.open_existing(store_dir) as store:
        assert store.is_demo()
        assert store.solved() == set()  # outside the demo's counting: nothing
        assert store.solved(count_stand_in=True)
    rows = json.loads((tiny["it"] / "round-1" / "data.json").read_text(encoding="utf-8"))
    assert rows["decontamination"]["against"] == []
    if rows["rows"]:
        import datasets

        ds = datasets.load_from_disk(str(tiny["it"] / "round-1" / "train"), keep_in_memory=True)
        assert {s.split(":", 1)[0] for s in ds["source"]} == {"stand-in"}


def test_tiny_model_stand_in_proofs_are_no_training_data_outside_the_demo(tiny: dict, tmp_path: Path) -> None:
    from bridge.cli.demo import TINY_ITERATE, _config
    from bridge.cli.iterate import config_from
    from bridge.cli.main import build_parser
    from bridge.demo import PROBLEMS
    from bridge.runs.store import RunStore
    from bridge.train.data import verified_proofs
    from bridge.train.iterate import Iteration

    assert tiny["r"].returncode == 0, tiny["r"].stderr[-3000:]
    store_dir = tiny["it"] / "round-1" / "samples"
    with RunStore.open_existing(store_dir) as store:
        assert verified_proofs(store, 1, count_fast_gate=True) == []
        assert verified_proofs(store, 1, count_fast_gate=False, count_stand_in=True)
    # the same model, problems, settings and stand-in REPL through an iterate that is not a demo's
    model, out = tiny["dir"] / "tiny-model", tmp_path / "iterate"
    args = build_parser().parse_args(["iterate", str(PROBLEMS), "--model", str(model), "--run-dir", str(out),
                                      *TINY_ITERATE])
    cfg = config_from(args)
    assert cfg.demo is False
    bcfg = _config(out)
    assert Iteration(cfg, bcfg, lambda s: None).run() == 0
    rd = json.loads((out / "rounds.json").read_text(encoding="utf-8"))[0]
    assert rd["checker"] == "stand-in" and rd["stand_in_counted"] is False
    assert rd["samples"] == 24 and rd["proved_samples"] == 0 and rd["solved_so_far"] == 0
    assert rd["training_rows"] == 0 and rd["trained"] is False and "no proof was accepted" in rd["no_training_reason"]
    with RunStore.open_existing(out / "round-1" / "samples") as store:
        assert not store.is_demo()
    # and a non-demo iterate cannot resume the demo's run directory
    from bridge.errors import InputError

    args = build_parser().parse_args(["iterate", str(PROBLEMS), "--model", str(model), "--run-dir",
                                      str(tiny["it"]), *TINY_ITERATE])
    with pytest.raises(InputError, match="demo"):
        Iteration(config_from(args), bcfg, lambda s: None).prepare()


def test_tiny_model_rerun_resumes_without_redoing(tiny: dict) -> None:
    from tests.test_iterate import fingerprint

    assert tiny["r"].returncode == 0, tiny["r"].stderr[-3000:]
    before = fingerprint(tiny["it"] / "round-1")
    r = subprocess.run(tiny["argv"], cwd=tiny["tmp"], env=tiny["env"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert fingerprint(tiny["it"] / "round-1") == before
    assert "building a tiny random model" not in r.stderr
